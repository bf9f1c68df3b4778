"""Which way to blame: walk the history once, or run `git blame` file by file.

Both give git blame's answer (walk.py vouches only for what it can prove);
the choice is about cost, so it is made by measuring this repository: a
few files are blamed and a few commits' diffs read, and each way's cost is
extrapolated to the whole job. Per-file blame scales with the files to blame
times the history each one walks back through; the walk with the history's
commits and the size of their diffs. Synthetic histories where thousands
of files carry tags favour the walk by 50 to 1; real projects, where a few
hundred files carry tags in a long history of large commits, often favour
per-file blame by 4 to 1.

`FIXME_BLAME_STRATEGY` (files, walk or auto, the default) overrides the
choice; it exists for tests and for comparing the two ways by hand.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from .blame import Origin, blame_files
from .gitio import Git, GitError
from .quickcheck import STABLE_CONFIG, git_environment
from .walk import DIFF_ARGS, walk_refusal

STRATEGY_ENV = "FIXME_BLAME_STRATEGY"
STRATEGIES = ("auto", "walk", "files")
WALK_MIN_FILES = 24  # below this many files to blame, measuring costs more than it can save
MAX_WALK_LINES = 20_000_000  # lines of followed files: about what the walk's states may hold in 300 MB
SAMPLE_FILES = 4
SAMPLE_COMMITS = 48
WALK_OVERHEAD = 1.5  # the walk's Python work on top of git's diffs, measured on make-repo histories


def blame_strategy(environ: dict[str, str] | None = None) -> str:
    """The strategy the environment asks for (auto unless FIXME_BLAME_STRATEGY says otherwise)."""
    value = (environ if environ is not None else os.environ).get(STRATEGY_ENV, "auto").strip().lower()
    return value if value in STRATEGIES else "auto"


@dataclass
class Choice:
    """Whether to walk, and the files blamed while measuring (not to be blamed again)."""

    walk: bool
    blamed: dict[str, dict[int, Origin]] = field(default_factory=dict)


def choose_walk(git: Git, head: str, wanted: dict[str, Collection[int]], base: str | None,
                lines_in_files: int, strategy: str) -> Choice:
    """Whether to walk the history for `wanted` rather than blame each file."""
    if strategy == "files" or walk_refusal(git) is not None:
        return Choice(False)
    if strategy == "walk":
        return Choice(True)
    if len(wanted) < WALK_MIN_FILES or lines_in_files > MAX_WALK_LINES:
        return Choice(False)
    commits = _count_commits(git, head, base)
    if commits == 0:
        return Choice(False)
    blamed, per_file = _blame_a_sample(git, head, wanted)
    per_commit = _seconds_per_commit(git, head, base)
    cores = os.cpu_count() or 2
    return Choice(per_commit * commits * WALK_OVERHEAD < per_file * len(wanted) / cores, blamed)


def _count_commits(git: Git, head: str, base: str | None) -> int:
    spec = head if base is None else f"{base}..{head}"
    try:
        return int(git.run("rev-list", "--count", spec).strip() or 0)
    except (GitError, ValueError):
        return 0


def _blame_a_sample(git: Git, head: str, wanted: dict[str, Collection[int]]) -> tuple[dict, float]:
    """A few of the files blamed one at a time, and the wall time that took per file."""
    sample = random.Random(0).sample(sorted(wanted), min(SAMPLE_FILES, len(wanted)))
    started = time.perf_counter()
    blamed = {}
    for path in sample:
        blamed.update(blame_files(git, [(path, wanted[path], head)]))
    return blamed, (time.perf_counter() - started) / len(sample)


def _seconds_per_commit(git: Git, head: str, base: str | None) -> float:
    """Wall time of reading the diffs of a few commits spread over the history."""
    spec = head if base is None else f"{base}..{head}"
    out = git.run("rev-list", "--parents", spec).decode().splitlines()
    sample = random.Random(0).sample(out, min(SAMPLE_COMMITS, len(out)))
    pairs = "".join(f"{shas[0]} {p}\n" for shas in (line.split() for line in sample) for p in shas[1:])
    started = time.perf_counter()
    subprocess.run(["git", "-C", str(git.root), *STABLE_CONFIG, *DIFF_ARGS], input=pairs.encode(),
                   capture_output=True, env=git_environment())
    return (time.perf_counter() - started) / len(sample)
