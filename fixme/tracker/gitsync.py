"""The tracker's records through the repository's own git remotes.

fixme/node/gitrelay.py carries any record log through git; this is where
the tracker tells it which log (LOG_NAME), whose records may be stored (the
trust list, as for the node) and whose ref it writes (the user's key), and
where fixme sets up the remotes so that a plain `git fetch` brings records.

`fixme list` calls arrived() on every run: it must stay cheap. It compares
a stamp of git's ref storage (a few stat calls) with the one saved when
records were last taken in, and only when they differ loads the relay.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import config_path
from ..errors import FixmeError
from .changes import node_dir
from .workflow import LOG_NAME

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ..node.gitrelay import GitRelay, GitSyncReport
    from .tracker import Tracker

STAMP_FILE = "gitsync-stamp.json"   # in .fixme/node/: git's ref storage as it was when last taken in
LOCK_TIMEOUT = 120.0
NO_REMOTES = ("no peers and no git remotes: add a remote ('git remote add origin URL'), pass HOST:PORT "
              "of a node, or add [[peers]] to .fixme/config.toml")


class GitSyncFailed(FixmeError):
    """A git remote could not be synced with (unreachable, refused the push): nothing changed
    here for it. Exit code 2, as for any failing git command."""


@dataclass
class RemoteOutcome:
    remote: str
    report: GitSyncReport | None
    error: str | None = None


def remotes(root: Path) -> list[str]:
    """The repository's git remotes, `origin` first."""
    from ..node.gitobjects import Git, GitFailed

    try:
        names = Git(root).remotes()
    except GitFailed as exc:
        raise FixmeError(f"git: {exc}") from None
    return sorted(names, key=lambda name: (name != "origin", name))


def add_fetch_refspecs(root: Path, names: list[str] | None = None) -> list[str]:
    """Add fixme's fetch refspec to each remote (default: all) that lacks it, so a plain
    `git fetch` or `git pull` brings the records along; one line per remote changed."""
    from ..node.gitobjects import Git, GitFailed
    from ..node.gitrelay import fetch_refspec

    git = Git(root)
    done = []
    try:
        for name in remotes(root) if names is None else names:
            spec = fetch_refspec(name)
            key = f"remote.{name}.fetch"
            if not git.config_all(f"remote.{name}.url") or spec in git.config_all(key):
                continue
            git.config_add(key, spec)
            done.append(f"git remote {name}: 'git fetch' brings fixme's records too ({spec})")
    except GitFailed as exc:
        raise FixmeError(f"git: {exc}") from None
    return done


def sync(tracker: Tracker, names: list[str], dry_run: bool = False, prompts: bool = True) -> list[RemoteOutcome]:
    """One round with each git remote of `names`: fetch, take in, write ours out, push."""
    from ..node.gitobjects import GitFailed

    outcomes = []
    with _relay(tracker, writing=True, prompts=prompts) as relay:
        for name in names:
            try:
                outcomes.append(RemoteOutcome(name, relay.sync(name, dry_run=dry_run)))
                if not dry_run:
                    add_fetch_refspecs(tracker.root, [name])
            except GitFailed as exc:
                outcomes.append(RemoteOutcome(name, None, str(exc)))
        if not dry_run:
            _save_stamp(tracker.root, _stamp(tracker.root))
    return outcomes


def take_in_fetched(tracker: Tracker, wait: float = LOCK_TIMEOUT) -> list[GitSyncReport]:
    """Take in the records a plain `git fetch` brought, from every remote (no network).

    With `wait` 0 a sync that holds the lock is left to do it (it will).
    """
    from ..node.gitrelay import GitSyncReport, TRACKING_PREFIX

    from ..node.gitobjects import GitFailed

    reports = []
    with _relay(tracker, writing=False, wait=wait) as relay:
        if relay is None:
            return []
        stamp = _stamp(tracker.root)
        try:
            for name in _tracked_remotes(relay, TRACKING_PREFIX):
                report = GitSyncReport(name)
                relay.take_in(name, report)
                reports.append(report)
        except GitFailed as exc:
            raise FixmeError(f"git: {exc}") from None
        _save_stamp(tracker.root, stamp)
    return reports


def arrived(tracker: Tracker, notify: Callable[[str], None] | None = None) -> None:
    """Take in records fetched since the last time, if git's refs moved (for `list`; cheap otherwise).

    Problems are told to `notify` in one line and do not stop the caller:
    a read-only `.fixme/` must not keep `list` from listing.
    """
    stamp = _stamp(tracker.root)
    if stamp is None or stamp == _saved_stamp(tracker.root) or not _tracks_anything(tracker.root):
        return
    try:
        taken = take_in_fetched(tracker, wait=0)
    except (FixmeError, OSError) as exc:
        if notify is not None:
            notify(f"records fetched by git not taken in: {exc}")
        return
    count = sum(r.records_in for r in taken)
    if count and notify is not None:
        notify(f"took in {count} record{'s' if count != 1 else ''} that 'git fetch' brought")


def _tracked_remotes(relay: GitRelay, prefix: str) -> list[str]:
    """Remotes with records under fixme's namespace (`refs/fixme-remotes/<remote>/records/`)."""
    found = set()
    for name in relay.git.refs(prefix):
        rest = name[len(prefix):]
        at = rest.rfind("/records/")
        if at > 0:
            found.add(rest[:at])
    return sorted(found, key=lambda name: (name != "origin", name))


class _relay:
    """`with _relay(tracker, writing) as relay:` the relay over the repository's record log,
    under the sync lock (None when `wait` ran out: someone else is syncing)."""

    def __init__(self, tracker: Tracker, writing: bool, prompts: bool = True, wait: float = LOCK_TIMEOUT):
        self.tracker = tracker
        self.writing = writing
        self.prompts = prompts
        self.wait = wait
        self._close: list[Callable[[], None]] = []

    def __enter__(self) -> GitRelay | None:
        from ..fsutil import FileLock, LockTimeout
        from ..node.gitobjects import Git
        from ..node.gitrelay import GitRelay, lock_path
        from ..node.log import RecordLog
        from ..node.rebuild import IndexUnavailable, open_log_index
        from ..node.storage import open_node_storage
        from .network import TrustList

        directory = node_dir(self.tracker.root)
        author = self.tracker.identity().public_key if self.writing else b""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock = FileLock(lock_path(directory), exclusive=True, timeout=self.wait)
            lock.__enter__()
        except LockTimeout:
            if self.wait == 0:
                return None
            raise FixmeError(f"another fixme sync has held {lock_path(directory)} for {self.wait:.0f} s") from None
        except OSError as exc:
            raise FixmeError(f"cannot sync: {exc.filename}: {exc.strerror}") from None
        self._close.append(lambda: lock.__exit__(None, None, None))
        try:
            index = open_log_index(directory, create=True, check=self.writing)
        except IndexUnavailable as exc:
            self.__exit__()
            raise FixmeError(f"cannot open the records: {exc}") from None
        assert index is not None
        store, refs = open_node_storage(directory)
        self._close[:0] = [index.close, store.close]
        log = RecordLog(store, refs, index, LOG_NAME)
        return GitRelay(Git(self.tracker.root), log, refs, author, TrustList(self.tracker.root),
                        prompts=self.prompts)

    def __exit__(self, *exc_info) -> None:
        while self._close:
            self._close.pop(0)()


# -- the stamp of git's refs ------------------------------------------------------------

def _stamp(root: Path) -> list | None:
    """(name, mtime, size) of what holds fixme's fetched refs and of the trust list; None when
    git's directory cannot be found without running git. A fetch that moves a ref in
    `refs/fixme-remotes/` changes a loose ref file or packed-refs (or reftable's list)."""
    common = _common_dir(root)
    if common is None:
        return None
    paths = [common / "packed-refs", common / "reftable" / "tables.list", config_path(root)]
    stamp = [_file_stamp(p) for p in paths]
    stamp += sorted(_file_stamp(p) for p in _walk(common / "refs" / "fixme-remotes"))
    return stamp


def _tracks_anything(root: Path) -> bool:
    """Whether any fixme ref was ever fetched here (else `list` has nothing to look for)."""
    common = _common_dir(root)
    if common is None:
        return False
    if (common / "refs" / "fixme-remotes").is_dir() or (common / "reftable").is_dir():
        return True
    try:
        # One search of the whole file, not a loop over its lines: `list` pays for this on every
        # run in a repository that never fetched records, and packed-refs can hold many tags.
        return b" refs/fixme-remotes/" in (common / "packed-refs").read_bytes()
    except OSError:
        return False


def _file_stamp(path: Path) -> list:
    try:
        info = path.stat()
    except OSError:
        return [str(path), 0, -1]
    return [str(path), info.st_mtime_ns, info.st_size]


def _walk(directory: Path) -> Iterator[Path]:
    for top, _, files in os.walk(directory):
        for name in files:
            yield Path(top) / name


def _common_dir(root: Path) -> Path | None:
    """The git directory holding refs, found on the file system as git would for the usual layouts."""
    dot = root / ".git"
    if dot.is_dir():
        return dot
    try:
        text = dot.read_text()
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    gitdir = Path(text[len("gitdir: "):].strip())
    gitdir = gitdir if gitdir.is_absolute() else root / gitdir
    try:
        common = (gitdir / "commondir").read_text().strip()
    except OSError:
        return gitdir
    path = Path(common)
    return path if path.is_absolute() else gitdir / path


def _saved_stamp(root: Path) -> list | None:
    try:
        return json.loads((node_dir(root) / STAMP_FILE).read_text())["refs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_stamp(root: Path, stamp: list | None) -> None:
    """Remember git's refs as they were when the records were read."""
    from ..fsutil import atomic_write_json

    if stamp is not None:
        atomic_write_json(node_dir(root) / STAMP_FILE, {"refs": stamp})
