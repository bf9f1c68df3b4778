#!/usr/bin/env python3
"""Records and blocks: signing, ingest, fold, the write commands, blobs.

    python benchmarks/records.py [--records N] [--entries N] [--blob-mb N] [--repeat N]
                                 [--blob-runs N] [--blobs-only]

Everything is built in a temporary directory, in one run, and every figure
stands next to a reference measured in the same run:
  verify rate        raw ed25519 signature checks per second (one thread, libsodium)
  ingest             N records into an empty store (parse, verify, store, index,
                     heads), as records/s and as a ratio to the raw verify rate
  fold               N records read from the index and folded onto the entries,
                     no signature checks, from nothing (the kept fold deleted)
  kept fold          the same answer from .fixme/cache/folded.bin when nothing
                     new arrived, and after one new record (tracker/folded.py)
  rebuild            records.db rebuilt from the N record blocks (as when it is
                     lost): every record verified again, ordered, indexed,
                     heads ref written; as records/s and as a ratio to the
                     raw verify rate
  set-workflow/list  `fixme set-workflow` and `fixme list` wall time on a
                     repository with --entries entries and N records (medians),
                     and `fixme list --all` on a repository of the same entries
                     without records, in turns: the ratio is what records cost `list`
  blob put/get       `node put`/`node get` style throughput next to a plain
                     file copy of the same file and a copy that fsyncs (put and
                     get fsync, the plain copy does not): medians of --blob-runs
                     alternating runs
Targets: ingest >= 0.7x verify rate, rebuild >= 0.5x verify rate, fold of 100k <= 2 s,
set-workflow <= 0.25 s, list with N records <= 1.3x list without,
blob put >= 0.5x a copy that fsyncs (put fsyncs every chunk).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import ENV, compile_package, fmt, run, verify_rate  # noqa: E402

FIXME = [str(Path(sys.executable).with_name("fixme"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--blob-mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--blob-runs", type=int, default=5)
    parser.add_argument("--blobs-only", action="store_true", help="only the blob put/get figures")
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory(prefix="fixme-bench-records-") as tmp:
        work = Path(tmp)
        if args.blobs_only:
            blob_figures(work, args.blob_mb, args.blob_runs)
            return
        os.environ["FIXME_HOME"] = ENV["FIXME_HOME"] = str(work / "home")
        rate = verify_rate()
        print(f"ed25519 verify (raw, 1 thread)  {rate:,.0f} /s")
        repo = make_repo(work / "repo", args.entries)
        entry_ids = scanned_ids(repo)
        print(f"repository                      {len(entry_ids):,} entries")
        bare = make_repo(work / "bare", args.entries)  # the same entries, never a record
        blocks = make_records(entry_ids, args.records, repo)
        seconds = ingest(repo, blocks)
        print(f"ingest {len(blocks):,} records          {fmt(seconds)} = {len(blocks) / seconds:,.0f} /s"
              f" = {len(blocks) / seconds / rate:.2f}x verify rate  [target >= 0.7x]")
        seconds = rebuild(repo, len(blocks))
        print(f"rebuild records.db, {len(blocks):,}    {fmt(seconds)} = {len(blocks) / seconds:,.0f} /s"
              f" = {len(blocks) / seconds / rate:.2f}x verify rate  [target >= 0.5x]")
        fold_seconds = fold(repo)
        print(f"fold {len(blocks):,} records            {fmt(fold_seconds)}  [target <= 2 s]")
        kept, one_more = kept_fold(repo)
        print(f"kept fold, nothing new          {fmt(kept)}; after one new record {fmt(one_more)}")
        timings = command_times(repo, bare, entry_ids, args.repeat)
        bare_list = timings["bare list"]
        print(f"fixme set-workflow              {fmt(timings['set-workflow'])} (median)  [target <= 0.25 s]")
        print(f"fixme list --all, no records    {fmt(bare_list)} (median)")
        print(f"fixme list --all, {len(blocks):,} records {fmt(timings['list'])} (median)"
              f" = {timings['list'] / bare_list:.2f}x without  [target <= 1.3x]")
        blob_figures(work, args.blob_mb, args.blob_runs)


def make_repo(root: Path, entries: int) -> Path:
    """A repository with `entries` TODOs, ten to a file, in one commit, initialised."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    per_file = 10
    for n in range(0, entries, per_file):
        path = root / "src" / f"d{n // 1000}" / f"m{n}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"x{i} = {i}  # TODO: task {n + i} of the benchmark\n" for i in range(per_file)))
    subprocess.run(FIXME + ["init"], cwd=root, env=ENV, check=True, capture_output=True)
    git(root, "add", "-A")
    git(root, "-c", "user.name=Bench", "-c", "user.email=b@example.org", "commit", "-q", "-m", "entries")
    return root


def scanned_ids(repo: Path) -> list[str]:
    import json

    out = run(FIXME + ["list", "--format", "json"], repo).stdout
    return [item["id"] for item in json.loads(out)]


def make_records(entry_ids: list[str], count: int, repo: Path) -> list[bytes]:
    """`count` records by three trusted authors, a DAG where each names the latest few."""
    from nacl.signing import SigningKey

    from fixme.node.keys import key_text
    from fixme.node.records import sign_record
    from fixme.tracker.workflow import LOG_NAME, set_payload

    rng = random.Random(7)
    keys = [SigningKey(bytes([n + 1]) * 32) for n in range(3)]
    for n, key in enumerate(keys):
        subprocess.run(FIXME + ["trust", "add", key_text(bytes(key.verify_key)), "--name", f"author{n}"],
                       cwd=repo, env=ENV, check=True, capture_output=True)
    states = ["backlog", "wip", "test", "done"]
    records, recent = [], []
    base = 1_700_000_000_000
    for n in range(count):
        parents = recent[-2:]
        clock = 1 + max((r.clock for r in parents), default=0)
        record = sign_record(keys[n % 3], LOG_NAME, [p.id for p in parents], clock, base + n,
                             set_payload(rng.choice(entry_ids), "workflow", rng.choice(states)))
        records.append(record)
        recent = (recent + [record])[-4:]
    return [r.data for r in records]


def ingest(repo: Path, blocks: list[bytes]) -> float:
    from fixme.node.log import LogIndex, RecordLog
    from fixme.node.storage import open_node_storage
    from fixme.tracker.changes import INDEX_FILE, node_dir
    from fixme.tracker.workflow import LOG_NAME

    directory = node_dir(repo)
    store, refs = open_node_storage(directory)
    index = LogIndex(directory / INDEX_FILE)
    log = RecordLog(store, refs, index, LOG_NAME)
    started = time.perf_counter()
    for start in range(0, len(blocks), 5000):  # as sync delivers them: in batches
        report = log.ingest(blocks[start:start + 5000])
        if report.rejected:
            sys.exit(f"ingest rejected {len(report.rejected)} records: {report.rejected[0].reason}")
    seconds = time.perf_counter() - started
    index.close()
    store.close()
    return seconds


def rebuild(repo: Path, expected: int) -> float:
    """Time rebuilding records.db from the blocks, after moving the index away (kept, then restored)."""
    from fixme.node.rebuild import rebuild_index
    from fixme.tracker.changes import INDEX_FILE, node_dir

    directory = node_dir(repo)
    kept = directory / "kept-records.db"
    shutil.move(directory / INDEX_FILE, kept)
    started = time.perf_counter()
    report = rebuild_index(directory, "benchmark")
    seconds = time.perf_counter() - started
    if report.indexed != expected:
        sys.exit(f"rebuild indexed {report.indexed} of {expected} records: {report.summary()}")
    (directory / INDEX_FILE).unlink()
    shutil.move(kept, directory / INDEX_FILE)
    return seconds


def fold(repo: Path) -> float:
    """The whole log folded from nothing: the kept fold deleted before each run."""
    from fixme.tracker.folded import FOLD_FILE
    from fixme.tracker.tracker import Tracker

    runs = []
    for _ in range(3):
        (repo / ".fixme" / "cache" / FOLD_FILE).unlink(missing_ok=True)
        tracker = Tracker.open(repo)
        started = time.perf_counter()
        tracker.all_entries()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def kept_fold(repo: Path) -> tuple[float, float]:
    """Tracker.folded() answered from the kept fold: nothing new (median of 5), and the
    catch-up after one record written by another process (the cache file rewritten)."""
    from fixme.tracker.tracker import Tracker

    Tracker.open(repo).folded()  # kept as of now
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        Tracker.open(repo).folded()
        runs.append(time.perf_counter() - started)
    run(FIXME + ["set-workflow", "--no-scan", scanned_ids(repo)[0], "wip"], repo)
    started = time.perf_counter()
    Tracker.open(repo).folded()
    return statistics.median(runs), time.perf_counter() - started


def command_times(repo: Path, bare: Path, entry_ids: list[str], repeat: int) -> dict[str, float]:
    """Medians of set-workflow, and of `list --all` in `repo` and in `bare` (the same entries
    without records) run in turns, so that a busy machine weighs on both alike. --all: every
    entry in both (with records, the done ones would otherwise be hidden)."""
    states = ["wip", "test", "done", "backlog"]
    writes = [run(FIXME + ["set-workflow", entry_ids[n], states[n % 4]], repo).seconds for n in range(repeat)]
    run(FIXME + ["list", "--all"], bare)  # its first scan
    lists, bare_lists = [], []
    for _ in range(repeat):
        lists.append(run(FIXME + ["list", "--all"], repo).seconds)
        bare_lists.append(run(FIXME + ["list", "--all"], bare).seconds)
    return {"set-workflow": statistics.median(writes), "list": statistics.median(lists),
            "bare list": statistics.median(bare_lists)}


def blob_figures(work: Path, megabytes: int, runs: int) -> None:
    """Blob put and get next to a plain copy of the same file: medians of `runs` alternating runs.

    Every step starts on the same footing: the source in the page cache, the
    previous step's output deleted (outside the timing: overwriting it made
    the copy pay for freeing and discarding 512 MiB) and no dirty pages
    (os.sync, so no step pays for the writeback of the one before). Single
    runs still spread widely on this VM (0.15x-0.68x): writing into memory
    the host has to fault back in costs ~2.4 ms/MiB instead of ~0.16 ms, and
    which step meets such memory varies from run to run; hence medians, with
    every run's ratio printed.
    """
    from fixme.node.blobs import put_blob, write_blob
    from fixme.node.blocks import BlockStore

    source = write_blob_source(work / "blob.bin", megabytes)
    copy, back = work / "copy.bin", work / "back.bin"
    times: dict[str, list[float]] = {"copy": [], "copy + fsync": [], "put": [], "get": []}
    for attempt in range(runs):
        store_dir = work / f"store{attempt}"
        leftovers = [copy, back, work / f"store{attempt - 1}"]
        times["copy"].append(timed_step(lambda: shutil.copyfile(source, copy), leftovers))
        times["copy + fsync"].append(timed_step(lambda: copy_and_fsync(source, copy), leftovers))
        with BlockStore(store_dir) as store, open(source, "rb") as fh:
            blob_id: list[str] = []
            times["put"].append(timed_step(lambda: blob_id.append(put_blob(store, fh)), leftovers))
            times["get"].append(timed_step(lambda: write_blob(store, blob_id[0], back), [copy]))
    report_blob_figures(times, source.stat().st_size / (1 << 20))


def report_blob_figures(times: dict[str, list[float]], size_mb: float) -> None:
    """Medians, and the per-run ratios so the spread shows.

    The target is judged against the copy that fsyncs: put and get make their
    output durable, a plain copy leaves it in the page cache.
    """
    medians = {step: statistics.median(seconds) for step, seconds in times.items()}
    plain, synced = medians["copy"], medians["copy + fsync"]
    print(f"plain copy {size_mb:.0f} MiB              {size_mb / plain:,.0f} MiB/s (no fsync);"
          f" copy + fsync {size_mb / synced:,.0f} MiB/s")
    for step, label in (("put", "blob put (fsyncs)    "), ("get", "blob get (verified)  ")):
        ratios = [c / s for c, s in zip(times["copy + fsync"], times[step])]
        target = "  [target >= 0.5x]" if step == "put" else ""
        print(f"{label}           {size_mb / medians[step]:,.0f} MiB/s = {synced / medians[step]:.2f}x copy + fsync"
              f" ({plain / medians[step]:.2f}x plain copy){target}")
        print(f"  each run vs copy + fsync      {' '.join(f'{r:.2f}' for r in ratios)}"
              f" (median {statistics.median(ratios):.2f}x of {len(ratios)})")


def write_blob_source(path: Path, megabytes: int) -> Path:
    """A file of distinct 1 MiB chunks (no dedup flattery), written out and read back into the page cache."""
    with open(path, "wb") as fh:
        chunk = os.urandom(1 << 20)
        for n in range(megabytes):
            fh.write(n.to_bytes(8, "big") + chunk[8:])
    os.sync()
    with open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass
    return path


def timed_step(action, leftovers: list[Path]) -> float:
    """Seconds `action` takes, after deleting `leftovers` and flushing every dirty page.

    With os.sync() no step pays for the writeback of the one before it.
    """
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    os.sync()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def copy_and_fsync(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


if __name__ == "__main__":
    main()
