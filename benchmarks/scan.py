#!/usr/bin/env python3
"""Scan speed, measured against git (and leasot, when installed) in the same run.

    python benchmarks/scan.py REPO [--repeat N] [--floor-sample N]
    python benchmarks/scan.py --realistic [--files 5000] [--commits 3000]
    python benchmarks/scan.py --plain [--files 5000] [--commits 3000]

REPO is cloned first (your repository is never touched); --realistic and
--plain build one with ../shared/bench/make-repo. Printed, all measured here:

  cold scan            `fixme scan` with no cache, against the serial per-file
                       blame floor (`git blame --porcelain -L n,n ...` for exactly
                       the tag lines, one file after another) and that floor split
                       over the cores (the same blames, one per core at a time)
  cold detection       the cold scan's reading and parsing of every file (its
                       `timings.reading`), against leasot on the same files (if
                       `leasot` is on PATH or in ./node_modules/.bin), else
                       against `git grep`; and the whole rescan after a settings
                       change (every file read again, blame cached)
  warm no-change scan  median, against Python's own start-up + `git status`
  one-file commit      median scan right after a commit touching one file
  peak memory          of the cold scan's whole process tree (git included)
  blame agreement      every commit fixme reports against `git blame`

Targets: cold <= 0.5x serial floor (realistic); detection <= 1x leasot; warm
<= Python start-up + git status + 25 ms; peak <= 300 MB; every commit equal.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import compile_package, fmt, median_time, run, run_tree_peak  # noqa: E402

# The installed console script, as users run it (python -m adds runpy's imports).
FIXME = [str(Path(sys.executable).with_name("fixme"))]
MAKE_REPO = Path(__file__).resolve().parents[2] / "shared" / "bench" / "make-repo"
TAGS = "TODO|FIXME|XXX|HACK|BUG|PR|REVIEW"
WARM_BUDGET = 0.025


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path, nargs="?", help="a git repository (cloned, never touched)")
    profile = ap.add_mutually_exclusive_group()
    profile.add_argument("--realistic", action="store_true", help="build a make-repo --realistic history")
    profile.add_argument("--plain", action="store_true", help="build a plain make-repo history")
    ap.add_argument("--files", type=int, default=5000, help="make-repo --files (default 5000)")
    ap.add_argument("--commits", type=int, default=3000, help="make-repo --commits (default 3000)")
    ap.add_argument("--repeat", type=int, default=11, help="runs per median (default 11)")
    ap.add_argument("--floor-sample", type=int, default=0, metavar="N",
                    help="blame only N random files for the floors and extrapolate (default: every file)")
    args = ap.parse_args()
    if (args.repo is None) != (args.realistic or args.plain):
        ap.error("give REPO, or --realistic / --plain")

    compile_package()
    if not Path(FIXME[0]).exists():
        sys.exit(f"{FIXME[0]} not found: install fixme in this interpreter's environment first")
    with tempfile.TemporaryDirectory(prefix="fixme-bench-") as tmp:
        work = Path(tmp) / "repo"
        if args.repo is not None:
            subprocess.run(["git", "clone", "-q", str(args.repo.resolve()), str(work)], check=True)
            label = str(args.repo)
        else:
            profile_args = ["--realistic"] if args.realistic else []
            subprocess.run([sys.executable, str(MAKE_REPO), str(work), "--files", str(args.files),
                            "--commits", str(args.commits), *profile_args], check=True, stdout=subprocess.DEVNULL)
            label = f"make-repo {' '.join(profile_args)} --files {args.files} --commits {args.commits}".replace("  ", " ")
        report(work, label, args)


def report(work: Path, label: str, args) -> None:
    cores = os.cpu_count() or 2
    cold = run_tree_peak([*FIXME, "scan", "--format", "json"], work)
    phases = json.loads(cold.stdout)["timings"]
    listed = json.loads(run([*FIXME, "list", "--all", "--no-scan", "--format", "json"], work).stdout)
    wanted = tag_lines(listed)
    serial, parallel, checked, mismatches = blame_floors(work, wanted, args.floor_sample, cores)
    detection = median_detection(work, args.repeat)
    reference, reference_name = detection_reference(work, args.repeat)
    python = median_time([sys.executable, "-c", "pass"], work, args.repeat)
    status = median_time(["git", "status", "--porcelain=v2", "-z", "--branch"], work, args.repeat)
    warm = median_time([*FIXME, "scan"], work, args.repeat)
    one_file = one_file_commits(work, args.repeat)

    entries = sum(len(v) for v in wanted.values())
    budget = python + status + WARM_BUDGET
    print(f"repository: {label} ({len(wanted)} files with entries, {entries} tag lines, {cores} cores)")
    print(f"cold scan             {fmt(cold.seconds):>10}   {cold.seconds / serial:6.3f}x serial blame floor"
          f"   {cold.seconds / parallel:6.3f}x floor over {cores} cores   (target <= 0.5x serial)")
    print(f"blame floor, serial   {fmt(serial):>10}   {'extrapolated from a sample' if args.floor_sample else 'every file'}")
    print(f"blame floor, {cores} cores {fmt(parallel):>10}")
    print(f"cold detection        {fmt(phases['reading']):>10}   {phases['reading'] / reference:6.2f}x "
          f"{reference_name} ({fmt(reference)})   (target <= 1x leasot): the cold scan reading and parsing files")
    print(f"rescan, blame cached  {fmt(detection):>10}   {detection / reference:6.2f}x {reference_name}"
          f"   every file read again and every entry rebuilt and stored, after a settings change")
    print(f"warm no-change scan   {fmt(warm):>10}   budget {fmt(budget)} = Python {fmt(python)} + git status "
          f"{fmt(status)} + 25 ms   ({'within' if warm <= budget else 'OVER'})")
    print(f"one-file commit scan  {fmt(one_file):>10}   {one_file / status:6.2f}x git status")
    print(f"peak memory (cold)    {cold.peak_mb:7.0f} MB   whole process tree             (target <= 300 MB)")
    print(f"blame agreement       {checked - mismatches}/{checked} tag lines match git blame"
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


def blame_floors(work: Path, wanted: dict[str, dict[int, str]], sample: int,
                 cores: int) -> tuple[float, float, int, int]:
    """git blame of exactly the tag lines, one call per file: serially, then over
    the cores; (serial seconds, parallel seconds, lines checked, mismatches)."""
    paths = sorted(wanted)
    chosen = random.Random(1).sample(paths, sample) if 0 < sample < len(paths) else paths
    checked = mismatches = 0

    def blame(path: str) -> dict[int, str]:
        cmd = ["git", "blame", "--porcelain"]
        for n in sorted(wanted[path]):
            cmd += ["-L", f"{n},{n}"]
        out = subprocess.run([*cmd, "HEAD", "--", path], cwd=work, capture_output=True, check=True).stdout
        found = {}
        for line in out.decode(errors="replace").split("\n"):
            parts = line.split(" ")
            if len(parts) >= 3 and len(parts[0]) == 40 and parts[2].isdigit():
                found[int(parts[2])] = parts[0]
        return found

    started = time.perf_counter()
    for path in chosen:
        for line, commit in blame(path).items():
            checked += 1
            mismatches += wanted[path].get(line) != commit
    serial = (time.perf_counter() - started) * len(paths) / len(chosen)
    started = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(blame, chosen))
    parallel = (time.perf_counter() - started) * len(paths) / len(chosen)
    return serial, parallel, checked, mismatches


def median_detection(work: Path, repeat: int) -> float:
    """`fixme scan` rereading every file with blame cached: a config change that
    alters nothing found (the size limit moves by one byte) makes it reread all."""
    import tomlkit

    config = work / ".fixme" / "config.toml"
    original = config.read_text() if config.exists() else None
    document = tomlkit.parse(original or "")
    limit = int(document.get("scan", {}).get("max_file_size", 5 * 1024 * 1024))
    times = []
    try:
        for i in range(repeat):
            document.setdefault("scan", tomlkit.table())["max_file_size"] = limit + 1 - i % 2
            config.parent.mkdir(exist_ok=True)
            config.write_text(tomlkit.dumps(document))
            times.append(run([*FIXME, "scan"], work).seconds)
    finally:
        if original is None:
            config.unlink()
        else:
            config.write_text(original)
    run([*FIXME, "scan"], work)
    return statistics.median(times)


def detection_reference(work: Path, repeat: int) -> tuple[float, str]:
    """leasot over the same files when it is installed, else `git grep` for the tags."""
    leasot = shutil.which("leasot") or next((str(p) for p in (Path.cwd() / "node_modules/.bin/leasot",)
                                              if p.exists()), None)
    if leasot is None:
        return median_time(["git", "grep", "-n", "-E", TAGS], work, repeat), "git grep"
    files = subprocess.run(["git", "ls-files"], cwd=work, capture_output=True, text=True, check=True).stdout.split()
    listing = work.parent / "files.txt"
    listing.write_text("\0".join(files))
    cmd = ["sh", "-c", f"xargs -0 {leasot} -S -x -r json -T XXX,HACK,BUG,REVIEW < {listing} > /dev/null"]
    return median_time(cmd, work, repeat), "leasot"


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
    return statistics.median(times)


if __name__ == "__main__":
    main()
