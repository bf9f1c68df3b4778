#!/usr/bin/env python3
"""Records through a git remote: `fixme sync` against plain git moving the same objects.

    python benchmarks/gitsync.py [--records N] [--repeat N]

Built in a temporary directory, in one run: a repository with one TODO and
`fixme init`, whose node is given --records signed records (one author,
each on top of the last, as a busy clone's log looks), and a local bare
remote. Every figure is the median of --repeat runs, each on fresh targets,
and each stands next to plain git moving the very same objects in the same
run (wall times of whole processes, Python start-up included for fixme):

  push    `fixme sync` from the clone with the records to an empty bare remote
          (export into its writer ref with fast-import, push), against
          `git push` of that same ref to another empty bare remote
  fetch   `fixme sync` in a fresh clone with an empty node (fetch, size checks,
          read, verify every signature, store), against `git fetch` of the
          same refs into another fresh clone
  size    what one push adds to the remote's packs, per record, as a multiple
          of the record's own bytes (target: under 2x)

Ratios are git's time over fixme's: 1.0 is as fast as git; the target is >= 0.5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXME = [sys.executable, "-m", "fixme"]


def sh(cwd: Path, *cmd: str, env: dict | None = None) -> float:
    """Run a command; its wall time in seconds."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-2000:]}")
    return time.perf_counter() - started


def git(cwd: Path, *args: str) -> float:
    return sh(cwd, "git", *args)


def pack_bytes(repo: Path) -> int:
    out = subprocess.run(["git", "count-objects", "-v"], cwd=repo, capture_output=True, text=True).stdout
    fields = dict(line.split(": ") for line in out.splitlines())
    return int(fields["size-pack"]) * 1024 + int(fields["size"]) * 1024


def fill_log(root: Path, home: Path, count: int) -> int:
    """`count` records by the clone's own key, in one chain; their total bytes."""
    env_home = {"FIXME_HOME": str(home)}
    os.environ.update(env_home)
    from fixme.node.keys import fixme_home, load_identity
    from fixme.node.log import RecordLog
    from fixme.node.rebuild import open_log_index
    from fixme.node.records import sign_record
    from fixme.node.storage import open_node_storage
    from fixme.tracker.changes import node_dir

    identity = load_identity(fixme_home(os.environ))
    directory = node_dir(root)
    index = open_log_index(directory, create=True)
    store, refs = open_node_storage(directory)
    log = RecordLog(store, refs, index, "tracker")
    blocks, parent, total = [], [], 0
    for n in range(count):
        record = sign_record(identity.signing_key, "tracker", parent, n + 1, 1_700_000_000_000 + n,
                             {"op": "set", "entry": f"{n % 1000:040x}", "attr": "workflow", "value": "wip"})
        blocks.append(record.data)
        parent = [record.id]
        total += len(record.data)
    report = log.ingest(blocks)
    assert len(report.added) == count, (len(report.added), report.rejected[:3])
    index.close()
    store.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000, help="records to sync (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; medians (default 3)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        home = work / "home"
        env = {**os.environ, "FIXME_HOME": str(home), "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x",
               "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}
        os.environ.update(env)
        source = work / "source"
        source.mkdir()
        git(source, "init", "-q", "-b", "main")
        (source / "app.py").write_text("# TODO: one task\n")
        git(source, "add", "-A")
        git(source, "commit", "-qm", "start")
        sh(source, *FIXME, "init", env=env)
        git(source, "add", "-A")
        git(source, "commit", "-qm", "config")
        started = time.perf_counter()
        record_bytes = fill_log(source, home, args.records)
        print(f"{args.records} records, {record_bytes / args.records:.0f} bytes each on average "
              f"(signed and stored in {time.perf_counter() - started:.1f} s)")

        pushes, git_pushes, growth = [], [], []
        fetches, git_fetches = [], []
        for run in range(args.repeat):
            remote, plain = work / f"remote{run}.git", work / f"plain{run}.git"
            for bare in (remote, plain):
                git(work, "init", "-q", "--bare", "-b", "main", str(bare))
            git(source, "remote", "remove", "origin") if run else None
            git(source, "remote", "add", "origin", str(remote))
            git(source, "push", "-q", "origin", "main")
            before = pack_bytes(remote)
            # A fresh writer ref each run: the export is part of what is measured.
            for ref in subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/fixme/",
                                       "refs/fixme-remotes/"], cwd=source, capture_output=True,
                                      text=True).stdout.split():
                git(source, "update-ref", "-d", ref)
            pushes.append(sh(source, *FIXME, "sync", env=env))
            growth.append(pack_bytes(remote) - before)
            ref = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/fixme/records/"],
                                 cwd=source, capture_output=True, text=True).stdout.split()[0]
            git_pushes.append(git(source, "push", "-q", str(plain), f"{ref}:{ref}"))

            clone, other = work / f"clone{run}", work / f"other{run}"
            # --no-local: a local clone would hard-link every object, leaving nothing to fetch.
            git(work, "clone", "-q", "--no-local", str(remote), str(clone))
            git(work, "clone", "-q", "--no-local", str(remote), str(other))
            clone_env = {**env, "FIXME_HOME": str(work / f"home-clone{run}")}
            fetches.append(sh(clone, *FIXME, "sync", env=clone_env))
            git_fetches.append(git(other, "fetch", "-q", "origin", "+refs/fixme/*:refs/bench/*"))
            assert subprocess.run([*FIXME, "node", "status", "--format", "json"], cwd=clone, env=clone_env,
                                  capture_output=True, text=True).stdout.count(f'"records": {args.records}') == 1

        def line(name: str, ours: list[float], theirs: list[float]) -> None:
            a, b = statistics.median(ours), statistics.median(theirs)
            verdict = "ok" if b / a >= 0.5 else "BELOW TARGET"
            print(f"{name:<6} fixme sync {a:6.2f} s ({args.records / a:8.0f} records/s)   plain git {b:6.2f} s   "
                  f"ratio {b / a:.2f} (target >= 0.5: {verdict})")

        line("push", pushes, git_pushes)
        line("fetch", fetches, git_fetches)
        per_record = statistics.median(growth) / args.records
        ratio = per_record / (record_bytes / args.records)
        print(f"size   {per_record:.0f} bytes of pack per record pushed, {ratio:.2f}x the record's own bytes "
              f"(target < 2x: {'ok' if ratio < 2 else 'ABOVE TARGET'})")


if __name__ == "__main__":
    main()
