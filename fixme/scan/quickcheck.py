"""Has anything changed since the last scan? Answered with as little as possible.

A scan with nothing to do should cost little more than `git status`, which
is what it runs. So this module imports only os before git is started (json
comes after, while git works; no subprocess, dataclasses or pathlib: at this
scale their import time is the budget), and both the scanner and the CLI's
`scan` fast path use it.

The answer is "unchanged" when, compared with what the last scan saved in
`.fixme/cache/state.json`: the `git status --porcelain=v2` output is the
same bytes (so HEAD, the index and the set of changed paths are the same),
every changed or untracked path has the same size and mtime, the config
file has the same stat, and the scan store is the very file that scan
closed (same size and mtime to the nanosecond, nothing pending in its WAL).

The last condition is what makes the store a cache: state.json only says
what the store was built from, so it may vouch for that store alone. A
store deleted, replaced or written by anything else (garbage, an empty
database, rows deleted) no longer matches, a scan runs, and the scanner,
finding the store is not the one state.json describes, rebuilds it from
nothing. Readers open the store read-only, so reading never changes its
stat. (A copy made with its times, `cp -a` of the cache, is the same file
and stays trusted; the inode is left out for that.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .spawn import Child

# Bump with store.SCHEMA: "unchanged" skips the store, so a state.json that
# outlives a reset store would vouch for an empty cache.
STATE_VERSION = 5
# --branch for HEAD's id; --no-ahead-behind because counting commits against
# the upstream costs time that grows with the divergence, and the counts
# would make a fetch look like a change to the work tree.
STATUS_ARGS = ("status", "--porcelain=v2", "-z", "--branch", "--no-ahead-behind", "--untracked-files=all",
               "--no-renames", "--ignore-submodules=all")
# Options that make git's output independent of the user's config.
STABLE_CONFIG = ("-c", "core.quotePath=false", "-c", "log.showSignature=false", "-c", "color.ui=never")


@dataclass
class ScanSummary:
    """What a scan did, for the summary line and `scan --format json`."""

    files: int = 0  # files scanned (considered)
    entries: int = 0  # open entries
    new: int = 0
    gone: int = 0
    reread: int = 0  # files read and parsed this time
    blamed: int = 0  # files whose lines needed blame this time
    seconds: float = 0.0
    unchanged: bool = False  # nothing changed since the last scan
    head: str | None = None
    notices: list[str] = field(default_factory=list)
    unsaved: str | None = None  # why the result is only in memory: the cache could not be written
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase: reading, blaming, storing


def find_work_tree(start: str) -> str | None:
    """The directory holding `.git` above `start`, when git's environment does not redirect it."""
    if any(var in os.environ for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES")):
        return None
    here = os.path.abspath(start)
    while True:
        if os.path.basename(here) != ".git" and os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def git_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LC_ALL", "C")
    env["GIT_OPTIONAL_LOCKS"] = "0"  # a read-only scan must not take the index lock
    env.pop("GIT_EXTERNAL_DIFF", None)
    return env


def start_git(root: str, args, env: dict[str, str] | None = None) -> Child:
    """Start git in the work tree `root` (every git call of a scan goes through here);
    `env` adds to its environment."""
    return Child(["git", "-C", root, *STABLE_CONFIG, *args], {**git_environment(), **(env or {})})


def start_status(root: str) -> Child:
    return start_git(root, STATUS_ARGS)


def status_head(raw: bytes) -> str | None:
    """HEAD's id from `git status --porcelain=v2 -z --branch` output; None before the first commit."""
    marker = b"# branch.oid "
    at = raw.find(marker)
    if at < 0:
        return None
    oid = raw[at + len(marker):raw.index(b"\0", at)].decode()
    return None if oid == "(initial)" else oid


def state_path(root: str) -> str:
    return os.path.join(root, ".fixme", "cache", "state.json")


def store_identity(root: str, pending_ok: bool = False) -> list[int] | None:
    """(size, mtime) of the scan store's main file; None when it is missing.

    Also None when its WAL holds writes not yet in the main file (a scan at
    work, or one killed), unless `pending_ok`: the scanner, holding the scan
    lock, can build on them, as SQLite keeps committed and uncommitted
    writes apart; only "nothing to do" cannot be said over them.
    """
    path = os.path.join(root, ".fixme", "cache", "scan.sqlite3")
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not pending_ok:
        try:
            if os.stat(path + "-wal").st_size:
                return None
        except OSError:
            pass
    return [st.st_size, st.st_mtime_ns]


def store_is_current(root: str, state: dict, pending_ok: bool = False) -> bool:
    """Whether the store is the file the scan that wrote `state` left (see the module doc)."""
    identity = state.get("store")
    return (state.get("version") == STATE_VERSION and identity is not None
            and identity == store_identity(root, pending_ok))


def read_state(root: str) -> dict:
    import json  # after git status has started: its import overlaps git's work

    try:
        with open(state_path(root), "rb") as fh:
            state = json.loads(fh.read())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def config_signature(root: str) -> list:
    """The config file's stat: cheap to compare, no parsing.

    Without config.toml, fixme reads the older tool's `.fixme/config`
    (config.py): its stat, marked "legacy" (which also tells the CLI, with
    no parsing, that there may be notices about that file to repeat).
    """
    try:
        st = os.stat(os.path.join(root, ".fixme", "config.toml"))
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        pass
    try:
        st = os.stat(os.path.join(root, ".fixme", "config"))
    except OSError:
        return ["defaults"]
    return ["legacy", st.st_size, st.st_mtime_ns]


def reads_legacy_config(state: dict) -> bool:
    """Whether the scan that saved `state` read its settings from the older tool's `.fixme/config`."""
    signature = state.get("config")
    return isinstance(signature, list) and signature[:1] == ["legacy"]


def status_records(raw: bytes):
    """(kind, path) for each path in `git status --porcelain=v2 -z` output.

    kind is "changed" (ordinary entry), "unmerged" or "untracked"; header
    lines are skipped.
    """
    for record in raw.split(b"\0"):
        kind = record[:2]
        if kind == b"1 ":  # 1 XY sub mH mI mW hH hI path
            yield "changed", record.split(b" ", 8)[8].decode("utf-8", "surrogateescape")
        elif kind == b"u ":  # u XY sub m1 m2 m3 mW h1 h2 h3 path
            yield "unmerged", record.split(b" ", 10)[10].decode("utf-8", "surrogateescape")
        elif kind == b"? ":
            yield "untracked", record[2:].decode("utf-8", "surrogateescape")


def status_paths(raw: bytes) -> list[str]:
    """The paths named by `git status --porcelain=v2 -z` output."""
    return [path for _, path in status_records(raw)]


def dirty_stats(root: str, paths: list[str]) -> dict[str, list[int]]:
    stats: dict[str, list[int]] = {}
    for path in paths:
        try:
            st = os.lstat(os.path.join(root, path))
        except OSError:
            continue
        stats[path] = [st.st_size, st.st_mtime_ns]
    return stats


def is_unchanged(root: str, state: dict, status_raw: bytes) -> bool:
    return (
        state.get("version") == STATE_VERSION
        and state.get("config") == config_signature(root)
        and store_is_current(root, state)
        and state.get("status") == status_raw.decode("utf-8", "surrogateescape")
        and state.get("dirty") == dirty_stats(root, status_paths(status_raw))
    )


def new_state(root: str, status_raw: bytes, summary: ScanSummary, store: list[int] | None) -> dict:
    """What state.json holds after a scan; `store` is store_identity() once the store is closed."""
    return {
        "version": STATE_VERSION,
        "store": store,
        "config": config_signature(root),
        "status": status_raw.decode("utf-8", "surrogateescape"),
        "dirty": dirty_stats(root, status_paths(status_raw)),
        "summary": {"files": summary.files, "entries": summary.entries, "head": summary.head},
    }


class StatusCheck:
    """`git status` as it is now, next to what the last scan saved."""

    __slots__ = ("root", "raw", "state", "early")

    def __init__(self, root: str, raw: bytes, state: dict):
        self.root = root
        self.raw = raw  # the exact `git status` output
        self.state = state  # the last scan's state.json ({} if none)
        self.early = None  # early.EarlyGit: git already at work for the scan that follows

    def unchanged(self) -> bool:
        return is_unchanged(self.root, self.state, self.raw)

    def summary(self) -> ScanSummary:
        """The last scan's summary, standing for this one (when unchanged)."""
        return ScanSummary(**self.state.get("summary", {}), unchanged=True)


def check_status(start: str, proc: Child | None = None) -> StatusCheck | None:
    """Run (or collect) `git status` for the work tree of `start`; None when git cannot say.

    `proc` is a `git status` already started in the work tree of `start`.
    """
    root = find_work_tree(start)
    if root is None:
        return None
    try:
        proc = proc or start_status(root)
    except OSError:
        return None
    state = read_state(root)  # while git works
    out, _ = proc.communicate()
    if proc.returncode != 0:
        return None
    return StatusCheck(root, out, state)
