#!/usr/bin/env python3
"""Scan speed, measured against git itself in the same run.

    python benchmarks/scan.py REPO [--repeat N] [--floor-sample N]

Works on a clone of REPO (your repository is never touched) and prints:
  cold scan            fixme scan with no cache
  blame floor          serial `git blame --porcelain -L n,n ...`, one call per
                       file, for exactly the tag lines fixme reports
  git grep             for the configured tags, as a plain-text reference
  warm no-change scan  fixme scan when nothing changed (median)
  one-file commit      fixme scan after a commit that touches one file (median)
  git status           (median)
  peak memory          of the cold scan
and checks that every commit fixme reports equals what `git blame` says.
Targets (make-repo, 5000 files, 3000 commits): cold <= 0.25x floor,
warm <= 3x git status, one-file commit <= 5x git status, peak <= 250 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import compile_package, fmt, median_time, run, run_peak  # noqa: E402

# The installed console script, as users run it (python -m adds runpy's imports).
FIXME = [str(Path(sys.executable).with_name("fixme"))]
TAGS = "TODO|FIXME|XXX|HACK|BUG|PR|REVIEW|NOTE"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path)
    ap.add_argument("--repeat", type=int, default=7, help="runs per median (default 7)")
    ap.add_argument("--floor-sample", type=int, default=0, metavar="N",
                    help="blame only N random files and extrapolate the floor (default: all files)")
    args = ap.parse_args()

    compile_package()
    if not Path(FIXME[0]).exists():
        sys.exit(f"{FIXME[0]} not found: install fixme in this interpreter's environment first")
    with tempfile.TemporaryDirectory(prefix="fixme-bench-") as tmp:
        work = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(args.repo.resolve()), str(work)], check=True)
        report(work, args)


def report(work: Path, args) -> None:
    cold = run_peak([*FIXME, "scan", "--full"], work)
    shutil.rmtree(work / ".fixme", ignore_errors=True)
    cold = run_peak([*FIXME, "scan"], work)
    listed = json.loads(run([*FIXME, "list", "--no-scan", "--format", "json"], work).stdout)
    wanted = tag_lines(listed)

    floor, checked, mismatches = blame_floor(work, wanted, args.floor_sample)
    grep = median_time(["git", "grep", "-n", "-E", TAGS], work, args.repeat)
    status = median_time(["git", "status", "--porcelain"], work, args.repeat)
    warm = median_time([*FIXME, "scan"], work, args.repeat)
    one_file = one_file_commits(work, args.repeat)

    entries = sum(len(v) for v in wanted.values())
    print(f"repository: {args.repo} ({len(wanted)} files with entries, {entries} tag lines)")
    print(f"cold scan            {fmt(cold.seconds):>10}   {cold.seconds / floor:6.3f}x blame floor   (target <= 0.25x)")
    print(f"blame floor (serial) {fmt(floor):>10}   {'extrapolated from a sample' if args.floor_sample else 'every file'}")
    print(f"git grep             {fmt(grep):>10}   cold scan is {cold.seconds / grep:.0f}x git grep")
    print(f"git status           {fmt(status):>10}")
    print(f"warm no-change scan  {fmt(warm):>10}   {warm / status:6.2f}x git status      (target <= 3x)")
    print(f"one-file commit scan {fmt(one_file):>10}   {one_file / status:6.2f}x git status      (target <= 5x)")
    print(f"peak memory (cold)   {cold.peak_mb:7.0f} MB                            (target <= 250 MB)")
    print(f"blame agreement      {checked - mismatches}/{checked} tag lines match git blame"
          + ("" if not mismatches else "   MISMATCHES"))
    if mismatches:
        sys.exit(1)


def tag_lines(listed: list[dict]) -> dict[str, dict[int, str]]:
    """path -> {line: commit} for every committed tag line fixme reports."""
    wanted: dict[str, dict[int, str]] = {}
    for entry in listed:
        for loc in entry["locations"]:
            if loc["commit"]:
                wanted.setdefault(loc["path"], {})[loc["line"]] = loc["commit"]
    return wanted


def blame_floor(work: Path, wanted: dict[str, dict[int, str]], sample: int) -> tuple[float, int, int]:
    """Serial git blame, one call per file; returns (seconds, lines checked, mismatches)."""
    paths = sorted(wanted)
    chosen = random.Random(1).sample(paths, sample) if 0 < sample < len(paths) else paths
    checked = mismatches = 0
    started = time.perf_counter()
    for path in chosen:
        cmd = ["git", "blame", "--porcelain"]
        for n in sorted(wanted[path]):
            cmd += ["-L", f"{n},{n}"]
        out = subprocess.run([*cmd, "HEAD", "--", path], cwd=work, capture_output=True, check=True).stdout
        for line in out.decode(errors="replace").split("\n"):
            parts = line.split(" ")
            if len(parts) >= 3 and len(parts[0]) == 40 and parts[2].isdigit():
                checked += 1
                mismatches += wanted[path].get(int(parts[2])) != parts[0]
    seconds = time.perf_counter() - started
    return seconds * len(paths) / len(chosen), checked, mismatches


def one_file_commits(work: Path, repeat: int) -> float:
    """Median scan time right after a commit that adds one entry to one file."""
    files = [p for p in subprocess.run(["git", "ls-files"], cwd=work, capture_output=True, text=True,
                                       check=True).stdout.split() if p.endswith((".py", ".sh", ".rb"))]
    rnd = random.Random(2)
    times = []
    env_args = ["-c", "user.name=Bench", "-c", "user.email=bench@example.org"]
    for i in range(repeat):
        path = work / rnd.choice(files)
        with open(path, "a") as fh:
            fh.write(f"# TODO: benchmark entry {i}\n")
        subprocess.run(["git", *env_args, "commit", "-q", "-am", f"bench {i}"], cwd=work, check=True)
        times.append(run([*FIXME, "scan"], work).seconds)
    times.sort()
    return times[len(times) // 2]


if __name__ == "__main__":
    main()
