"""Incremental scan: work tree → occurrences → blame → entries, remembering.

The expensive parts are reading files and blaming their tag lines, so both
are skipped whenever the store can vouch for the answer:

* nothing changed (same HEAD, same `git status`, same sizes and mtimes of
  the changed files, same config file): the previous result stands, and
  nothing beyond that check is even imported;
* only the paths that changed since the last scan (between the two HEADs,
  or in `git status` now or then) are looked at; a file whose key (blob
  id, or size and mtime for a file that differs from HEAD) is unchanged
  keeps its occurrences;
* a tag line in a blob blamed before keeps its origin;
* after new commits on top of the last scanned HEAD, only those commits
  are replayed; a cold scan replays the whole history once; a few odd
  files go to per-file `git blame` in parallel.

Only the entries that occur in changed files (and their PR counterparts)
are rebuilt and rewritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterator

from . import quickcheck
from .gitio import Git, GitError, Status, first_line, parse_status
from .quickcheck import ScanSummary

if TYPE_CHECKING:
    from ..config import Config
    from .entry import Entry
    from .store import ScanStore

T = TypeVar("T")

Progress = Callable[[str, int, int], None]  # phase, done, total


class Scanner:
    def __init__(self, root: Path, config: Config, progress: Progress | None = None, *,
                 allow_fetch: bool = False, blame_strategy: str | None = None):
        """`allow_fetch`: blame may download history a partial clone lacks;
        `blame_strategy`: auto, walk or files (default: FIXME_BLAME_STRATEGY, else auto)."""
        self.root = root
        self.config = config
        self.git = Git(root)
        self.progress = progress or (lambda phase, done, total: None)
        self.allow_fetch = allow_fetch
        self._blame_strategy = blame_strategy
        self._status_proc = None
        self.unsaved: ScanStore | None = None  # the last scan's result when the cache could not be written

    @property
    def blame_strategy(self) -> str:
        """Read when a scan blames, not when a reader opens the tracker: the strategy module
        brings blame, walk and a thread pool (~10 ms a `search` or `show` has no use for)."""
        if self._blame_strategy is None:
            from .strategy import blame_strategy as strategy_from_environment

            self._blame_strategy = strategy_from_environment()
        return self._blame_strategy

    def start_status(self) -> None:
        """Start `git status` now; the quick check collects it later."""
        if self._status_proc is None:
            self._status_proc = quickcheck.start_status(str(self.root))

    def quick_check(self, known: quickcheck.StatusCheck | None = None) -> tuple[Status, dict, bool]:
        """Run `git status` and compare with the last scan; True when nothing changed.

        `known` is a check the caller already made (the CLI's fast path does):
        running git status twice would cost as much as the rest of a small scan.
        """
        if known is not None and known.root == str(self.root):
            self._discard_status()
            return parse_status(known.raw), known.state, known.unchanged()
        self.start_status()
        proc, self._status_proc = self._status_proc, None
        state = quickcheck.read_state(str(self.root))  # while git works
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise GitError(first_line(err) or "git status failed")
        return parse_status(out), state, quickcheck.is_unchanged(str(self.root), state, out)

    def _discard_status(self) -> None:
        if self._status_proc is not None:
            self._status_proc.kill()
            self._status_proc = None

    # -- the scan --------------------------------------------------------
    def scan(self, force: bool = False, known: quickcheck.StatusCheck | None = None,
             must_save: bool = False) -> ScanSummary:
        """Bring the store up to date with the work tree; `force`: from nothing.

        Where the cache cannot be written (read-only, full disk) the scan is
        done in memory instead and the summary's `unsaved` says why, unless
        `must_save`: then StoreUnwritable.
        """
        started = time.perf_counter()
        early = known.early if known is not None and known.root == str(self.root) else None
        try:
            return self._scan(started, force, known, early, must_save)
        finally:
            if known is not None and known.early is not None:
                known.early.close()  # whatever the scan did not take

    def _scan(self, started: float, force: bool, known, early, must_save: bool) -> ScanSummary:
        from .store import StoreUnwritable

        status, state, unchanged = self.quick_check(known)
        if unchanged and not (force or self.allow_fetch) and self.unsaved is None:
            summary = ScanSummary(**state.get("summary", {}), unchanged=True)
            summary.seconds = time.perf_counter() - started
            return summary
        try:
            summary = self._scan_saved(status, force, early)
        except StoreUnwritable as exc:
            if must_save:
                raise
            summary = self._scan_unsaved(status, force, early)
            summary.unsaved = str(exc)
        summary.seconds = time.perf_counter() - started
        return summary

    def _scan_saved(self, status: Status, force: bool, early) -> ScanSummary:
        """The scan, written to the cache; state.json then vouches for exactly that store.

        Under the scan lock from the trust check to state.json, so that a
        second scan sees the first one's state.json with its store. A store
        that is not the one state.json describes (deleted, replaced, written
        by anything else, or no state.json) is rebuilt from nothing; so is a
        damaged one, found only on reading it.
        """
        from .store import StoreDamaged, ensure_writable_cache_dir

        ensure_writable_cache_dir(self.root)
        with self._scan_lock():
            try:
                return self._update_cache(status, force, early)
            except StoreDamaged:
                return self._update_cache(status, True, None)

    def _update_cache(self, status: Status, force: bool, early) -> ScanSummary:
        import sqlite3

        from .store import ScanStore, StoreDamaged, store_error

        root = str(self.root)
        from_nothing = force or not quickcheck.store_is_current(root, quickcheck.read_state(root), pending_ok=True)
        store = ScanStore(self.root)
        try:
            store.begin()
            if from_nothing:
                store.reset()
            summary = _Update(self, store, status, early).run()
            store.commit()
            settled = store.checkpoint()
        except sqlite3.Error as exc:
            store.rollback()
            error = store_error(exc, self.root)
            if isinstance(error, StoreDamaged):
                store.discard()
            raise error from None
        except BaseException:
            store.rollback()
            raise
        finally:
            store.close()
        self._save_state(status, summary, quickcheck.store_identity(root) if settled else None)
        self.unsaved = None
        return summary

    def _save_state(self, status: Status, summary: ScanSummary, identity: list[int] | None) -> None:
        """Write state.json; if that fails, remove the old one: it must not vouch for the new store."""
        from ..fsutil import atomic_write_json
        from .store import StoreUnwritable

        root = str(self.root)
        path = Path(quickcheck.state_path(root))
        try:
            atomic_write_json(path, quickcheck.new_state(root, status.raw, summary, identity))
        except OSError as exc:
            try:
                path.unlink()
            except OSError:
                pass
            raise StoreUnwritable(path.parent, exc.strerror or str(exc)) from None

    @contextmanager
    def _scan_lock(self) -> Iterator[None]:
        """Hold `.fixme/cache/scan.lock`: StoreUnwritable if it cannot be made, FixmeError after waiting long."""
        from ..errors import FixmeError
        from ..fsutil import FileLock, LockTimeout
        from .store import LOCK_FILE, LOCK_TIMEOUT, StoreUnwritable, cache_dir

        lock = FileLock(cache_dir(self.root) / LOCK_FILE, exclusive=True, timeout=LOCK_TIMEOUT)
        try:
            lock.__enter__()
        except OSError as exc:
            raise StoreUnwritable(lock.path.parent, exc.strerror or str(exc)) from None
        except LockTimeout:
            raise FixmeError(f"another fixme scan has held {lock.path} for over {LOCK_TIMEOUT:g} s; "
                             "try again later") from None
        try:
            yield
        finally:
            lock.__exit__()

    def _scan_unsaved(self, status: Status, force: bool, early) -> ScanSummary:
        """The scan in memory, from the last result this process or the cache holds: never written."""
        store = self.unsaved if self.unsaved is not None and not force else self._new_unsaved_store(force)
        store.begin()
        try:
            summary = _Update(self, store, status, early).run()
            store.commit()
        except BaseException:
            store.rollback()
            raise
        self.unsaved = store
        return summary

    def _new_unsaved_store(self, force: bool) -> ScanStore:
        """A store in memory: a copy of the cache if it is current (and not `force`), else empty."""
        from .store import ScanStore

        seed = None if force else self._current_cache()
        try:
            return ScanStore.in_memory_copy(self.root, seed)
        finally:
            if seed is not None:
                seed.close()

    def _current_cache(self) -> ScanStore | None:
        """The cache on disk, read-only, if state.json vouches for it and it reads; else None."""
        from .store import ScanStore, StoreDamaged

        root = str(self.root)
        if not quickcheck.store_is_current(root, quickcheck.read_state(root), pending_ok=True):
            return None
        try:
            return ScanStore.for_reading(self.root)
        except StoreDamaged:
            return None

    # -- reading the result ------------------------------------------------
    def read(self, reader: Callable[[ScanStore], T]) -> T:
        """`reader` applied to the last scan's result: this process's unsaved scan, or the cache.

        A cache that is missing or damaged is rebuilt (a full scan) and read
        again: a reader never answers from an empty or broken store.
        """
        from .store import StoreDamaged

        if self.unsaved is not None:
            return reader(self.unsaved)
        try:
            return self._read_cache(reader)
        except StoreDamaged:
            self.scan(force=True)
        if self.unsaved is not None:
            return reader(self.unsaved)
        return self._read_cache(reader)

    def _read_cache(self, reader: Callable[[ScanStore], T]) -> T:
        import sqlite3

        from .store import ScanStore, StoreDamaged, store_error

        store = ScanStore.for_reading(self.root)
        try:
            return reader(store)
        except sqlite3.Error as exc:
            error = store_error(exc, self.root)
            raise (error if isinstance(error, StoreDamaged) else exc) from None
        finally:
            store.close()


class _Update:
    """One incremental update of the store to the work tree as it is now."""

    def __init__(self, scanner: Scanner, store, status: Status, early=None):
        from .files import FileRules
        from .tags import TagSyntax

        self.scanner = scanner
        self.config = scanner.config
        self.git = scanner.git
        self.root = scanner.root
        self.store = store
        self.status = status
        self.rules = FileRules(self.config)
        self.tags = TagSyntax(self.config.tags)
        self.summary = ScanSummary(head=status.head)
        self.renames: dict[str, str] = {}  # new path -> old path between the two HEADs
        self.early = early  # early.EarlyGit: the diff-tree between the HEADs, perhaps started already
        # Set when the scan settings changed since the last scan: path -> the key each file was
        # read under before, to tell an entry the new settings hide from one edited away.
        self.keys_before: dict[str, str] | None = None

    def run(self) -> ScanSummary:
        store, status = self.store, self.status
        fingerprint = self.config.fingerprint()
        known_settings = store.meta("config")
        full = known_settings != fingerprint  # a store reset to nothing has no settings either
        if full and known_settings is not None:
            self.keys_before = store.file_keys()
        if full:
            store.clear_files()
        # With downloads allowed, files with lines git could not blame are read and blamed again.
        retry = set(store.unblamed_paths()) if self.scanner.allow_fetch else set()
        reblamed = {entry_id for path in retry for _, _, entry_id in store.file(path).occurrences}
        old_head = store.meta("head")
        old_dirty = set(store.meta("dirty", []))
        tree_changed = self._update_tree(old_head, full)
        dirty_now = {item.path for item in status.entries}
        everything = full or tree_changed is None
        candidates = (set(store.file_keys()) | set(store.tree()) | dirty_now) if everything \
            else (tree_changed | dirty_now | old_dirty | retry)
        changed, removed = self._changed_files(candidates, dirty_now, everything, retry)
        with self._timed("reading"):
            parsed = self._parse(changed)
        with self._timed("blaming"):
            origins = self._blame(parsed, old_head)
        with self._timed("storing"):
            affected, old_blobs = self._store_files(parsed, origins, removed)
            if self.keys_before is not None:
                affected |= store.entry_ids()  # new settings: every entry is found again, or not
            self._rebuild(affected, reblamed)
            store.prune_blame(None if everything else old_blobs)
        store.set_meta("config", fingerprint)
        store.set_meta("head", status.head)
        store.set_meta("dirty", sorted(dirty_now))
        self.summary.files = store.file_count()
        self.summary.entries = store.open_entry_count()
        return self.summary

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to the summary's `timings[phase]`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.summary.timings[phase] = self.summary.timings.get(phase, 0.0) + time.perf_counter() - started

    # -- which files -------------------------------------------------------
    def _update_tree(self, old_head: str | None, full: bool) -> set[str] | None:
        """Bring the stored HEAD tree up to date; the paths that changed, or None for all."""
        head = self.status.head
        if head is None:
            self.store.replace_tree({})
            return None
        if not full and old_head == head:
            return set()
        if not full and old_head is not None:
            try:
                changes = self._tree_diff(old_head, head)
            except GitError:
                changes = None  # the old HEAD is gone (gc after a rebase): start over
            if changes is not None:
                self.store.update_tree(changes)
                return set(changes)
        self.store.replace_tree(self.git.tree(head))
        return None

    def _early(self, kind: str, old_head: str):
        """The early-started git process of this kind, if it is for old_head..HEAD here."""
        if self.early is None:
            return None
        return self.early.take(kind, str(self.root), old_head, self.status.head)

    def _tree_diff(self, old: str, new: str) -> dict[str, str | None]:
        """path -> new blob (None: gone) between two commits; renames remembered for blame."""
        changes: dict[str, str | None] = {}
        self.renames = {}
        for change in self.git.tree_changes(old, new, self._early("tree", old)):
            if change.old_path:
                changes[change.old_path] = None
                self.renames[change.path] = change.old_path
            changes[change.path] = change.blob if change.regular else None
        return changes

    def _changed_files(self, candidates: set[str], dirty_now: set[str], everything: bool, reread: set[str]):
        """Files to (re)read with their key and grammar (`reread` in any case), and files no longer scanned."""
        keys = self.store.file_keys(None if everything else candidates)
        tree = self.store.tree_blobs(p for p in candidates if p not in dirty_now)
        changed, removed = [], []
        for path in sorted(candidates):
            kind = self.rules.kind(path)
            key = self._key(path, tree, dirty_now) if kind is not None else None
            if key is None:
                if path in keys:
                    removed.append(path)
            elif keys.get(path) != key or path in reread:
                changed.append((path, key, kind))
        return changed, removed

    def _key(self, path: str, tree: dict[str, str], dirty_now: set[str]) -> str | None:
        if path not in dirty_now:
            blob = tree.get(path)
            return None if blob is None else "blob:" + blob
        try:
            st = os.lstat(self.root / path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # symlinks and directories are not sources
        return f"stat:{st.st_size}:{st.st_mtime_ns}"

    # -- reading -----------------------------------------------------------
    def _parse(self, changed) -> list[tuple[str, str, int, list]]:
        """(path, key, line count, raw entries) for every changed file that is still there."""
        from .files import FOREIGN, Skipped, read_text

        parsed = []
        for done, (path, key, kind) in enumerate(changed, 1):
            text = read_text(self.root / path, self.config.max_file_size)
            if isinstance(text, Skipped):
                # Skipping a file of no known kind is no news: fixme never read those.
                if text.notice and kind.grammar != FOREIGN:
                    self.summary.notices.append(f"skipped {path}: {text.reason}")
                if text.reason != "missing":
                    parsed.append((path, key, 0, []))
                continue
            parsed.append((path, key, text.count("\n") + 1, self._entries_in(path, text, kind)))
            if done % 200 == 0 or done == len(changed):
                self.scanner.progress("reading", done, len(changed))
        self.summary.reread = len(changed)
        return parsed

    def _entries_in(self, path: str, text: str, kind) -> list:
        from .files import settle

        kind = settle(kind, path, text, self.config.tags)  # #! scripts, Pygments languages
        if kind is None:
            return []
        if kind.grammar == "code":
            from .codescan import scan_code

            return scan_code(text, self._with_configured_markers(kind.language), self.tags)
        from .prose import may_hold_entries, scan_prose

        if not may_hold_entries(text, self.tags):
            return []
        return scan_prose(text, self.tags, markdown=kind.markdown, rst=kind.rst)

    def _with_configured_markers(self, language):
        """The language with `scan.comment_markers` (from an older tool's config) as line comments too."""
        from .languages import Language

        extra = tuple(m for m in self.config.comment_markers if m not in getattr(language, "line_comments", ()))
        if not extra or not isinstance(language, Language):
            return language
        return language._replace(line_comments=language.line_comments + extra)

    # -- blame -------------------------------------------------------------
    def _blame(self, parsed, old_head: str | None) -> dict[str, dict]:
        """Origins of the tag lines of changed files, asking git only for what is unknown."""
        from .blame import uncommitted

        head = self.status.head
        origins: dict[str, dict] = {}
        at_head: dict[str, set[int]] = {}  # clean files: blame at HEAD, cached by blob
        in_tree: dict[str, set[int]] = {}  # files that differ from HEAD: blame the work tree
        blobs: dict[str, str] = {}
        # A file git tracks but HEAD lacks (added, or renamed with git mv) is blamed in the
        # work tree too: blame follows a staged rename back into the history.
        indexed = {item.path for item in self.status.entries if item.kind == "changed"}
        for path, key, _, raws in parsed:
            lines = {raw.line for raw in raws}
            if not lines:
                continue
            if key.startswith("blob:"):
                blobs[path] = key[5:]
                found = self.store.blame(blobs[path], lines)
                origins[path] = found
                if lines - found.keys():
                    at_head[path] = lines - found.keys()
            elif head is not None and (path in indexed or self.store.tree_blobs([path])):
                in_tree[path] = lines
            else:
                origins[path] = {n: uncommitted(path) for n in lines}
        self.summary.blamed = len(at_head) + len(in_tree)
        fresh = self._ask_git(head, old_head, at_head, in_tree, parsed)
        unblamed = sorted(path for path, found in fresh.items() if any(o.unblamed for o in found.values()))
        if unblamed:
            reason = next(o.unblamed for o in fresh[unblamed[0]].values() if o.unblamed)
            more = f" and {len(unblamed) - 1} more" if len(unblamed) > 1 else ""
            self.summary.notices.append(f"could not blame {unblamed[0]}{more} ({reason}); "
                                        "their entries are listed without a commit")
        for path, found in fresh.items():
            origins.setdefault(path, {}).update(found)
            if path in blobs and path not in unblamed:
                self.store.put_blame(blobs[path], found)
        return origins

    def _ask_git(self, head, old_head, at_head: dict[str, set[int]], in_tree: dict[str, set[int]],
                 parsed) -> dict:
        """Blame the lines the store does not know: walked where that is cheaper and
        the walk vouches for the file (walk.py), the rest file by file (blame.py)."""
        from .blame import blame_files

        result: dict = {}
        if head is not None and at_head:
            result.update(self._walked(head, old_head, at_head, parsed))
        jobs = [(p, lines, head) for p, lines in at_head.items() if p not in result]
        jobs += [(p, lines, None) for p, lines in in_tree.items()]
        if jobs:
            self.scanner.progress("blaming", 0, len(jobs))
            result.update(blame_files(self.git, jobs, lambda done, total: self.scanner.progress(
                "blaming", done, total), allow_fetch=self.scanner.allow_fetch))
        return result

    def _walked(self, head: str, old_head: str | None, wanted: dict[str, set[int]], parsed) -> dict:
        """What the history walk vouches for, when the strategy chooses it; {} otherwise."""
        from .strategy import choose_walk
        from .walk import walk_blame

        base, seed = self._seed(old_head, wanted)
        lines_in_files = sum(count for _, _, count, _ in parsed)
        choice = choose_walk(self.git, head, wanted, base, lines_in_files, self.scanner.blame_strategy)
        if not choice.walk:
            return choice.blamed  # the few files blamed while measuring

        def progress(done: int, total: int) -> None:
            self.scanner.progress("blaming (history)", done, total)

        try:
            return {**choice.blamed, **walk_blame(self.git, head, wanted, self.rules.follows, progress, base, seed)}
        except GitError as exc:
            self.summary.notices.append(f"blamed file by file: reading the history failed ({exc})")
            return choice.blamed

    def _seed(self, old_head: str | None, wanted: dict[str, set[int]]) -> tuple[str | None, dict]:
        """Where an incremental walk starts: the last scan's HEAD and the tag lines' origins
        it knew there (per file, a list over its lines, None where unknown)."""
        if old_head is None or old_head == self.status.head:
            return None, {}
        seed: dict[str, list] = {}
        for path in wanted:
            old_path = self.renames.get(path, path)
            stored = self.store.file(old_path)
            if stored is None or not stored.key.startswith("blob:"):
                continue  # new to the store: the walk sees it created, or it stays unknown
            line_origins: list = [None] * stored.lines
            for raw, origin, _ in stored.occurrences:
                if origin.commit is not None and 0 < raw.line <= stored.lines:
                    line_origins[raw.line - 1] = origin
            seed[old_path] = line_origins
        return old_head, seed

    # -- entries -----------------------------------------------------------
    def _store_files(self, parsed, origins: dict[str, dict], removed: list[str]) -> set[str]:
        """Write the changed files' occurrences; return every entry id they touch."""
        from .assemble import identify
        from .blame import uncommitted
        from .store import StoredFile

        affected = set()
        old_blobs = []
        for path in removed:
            stored = self.store.file(path)
            if stored is not None:
                affected.update(entry_id for _, _, entry_id in stored.occurrences)
                if stored.key.startswith("blob:"):
                    old_blobs.append(stored.key[5:])
            self.store.delete_file(path)
        for path, key, lines, raws in parsed:
            stored = self.store.file(path)
            if stored is not None:
                affected.update(entry_id for _, _, entry_id in stored.occurrences)
                if stored.key.startswith("blob:"):
                    old_blobs.append(stored.key[5:])
            known = origins.get(path, {})
            pairs = [(raw, known.get(raw.line) or uncommitted(path)) for raw in raws]
            ids = identify(path, pairs)
            affected.update(ids)
            self.store.put_file(StoredFile(path, key, lines, [(r, o, i) for (r, o), i in zip(pairs, ids)]))
        return affected, old_blobs

    def _rebuild(self, affected: set[str], reblamed: set[str]) -> None:
        """Rebuild the affected entries from all their occurrences; mark vanished ones gone,
        or drop them when new scan settings hid them (_hidden_by_settings).

        An entry of `reblamed` that vanished was not removed from the tree: its
        id changed once blame found the path its lines were written under.
        """
        from .assemble import Occurrence, build_entry, counterpart_id, set_links
        from .entry import GONE, OPEN

        head = self.status.head
        groups: dict[str, list] = {entry_id: [] for entry_id in affected}
        for stored in self.store.files(self.store.paths_of(affected)):
            for raw, origin, entry_id in stored.occurrences:
                if entry_id in groups:
                    groups[entry_id].append(Occurrence(stored.path, raw, origin))
        olds = self.store.entries_by_id(affected)
        rebuilt = {}
        old_counterparts = set()
        for entry_id, group in groups.items():
            old = olds.get(entry_id)
            if not group and old is not None:
                old_counterparts.add(counterpart_id(old))
            if not group and old is not None and self._hidden_by_settings(old):
                self.store.delete_entry(entry_id)  # as if never seen; its records wait in the log
            elif group:
                entry = build_entry(entry_id, group, self.config)
                entry.first_seen = old.first_seen if old and old.first_seen else head
                entry.seen_at = head
                if old is None:
                    self.summary.new += 1
                rebuilt[entry_id] = entry
            elif old is not None and entry_id in reblamed:
                self.store.delete_entry(entry_id)
            elif old is not None:
                if old.status == OPEN:
                    old.status = GONE
                    self.summary.gone += 1
                if old.gone_commit is None and head is not None and head != old.seen_at:
                    old.gone_commit = head
                old.links = []
                self.store.put_entry(old)
        vanished = {i for i, g in groups.items() if not g}

        def is_open(entry_id: str | None) -> bool:
            if entry_id is None or entry_id in vanished:
                return False
            return entry_id in rebuilt or self.store.is_open(entry_id)

        for entry in rebuilt.values():
            set_links(entry, is_open(counterpart_id(entry)))
        self.store.put_entries(rebuilt.values())
        # A PR appearing or vanishing changes the links of its counterpart too.
        touched = {counterpart_id(e) for e in rebuilt.values()} | old_counterparts
        for entry_id in touched - set(rebuilt) - {None}:
            other = self.store.entry(entry_id)
            if other is not None and other.status == OPEN:
                set_links(other, is_open(counterpart_id(other)))
                self.store.put_entry(other)

    def _hidden_by_settings(self, entry: Entry) -> bool:
        """Whether an entry no longer found is so because the scan settings changed, not the code.

        Then it is dropped rather than marked gone: a scan from nothing under
        these settings would not know it. That is so when, at each of its
        locations, the file is no longer read (excluded, not included, no
        longer prose, over the size limit) or, for an entry open until now,
        was read again with the same content (a tag no longer configured,
        another grammar). A file edited or deleted since the last scan says
        the entry was removed from the code: it goes gone as usual.
        """
        from .entry import OPEN

        if self.keys_before is None:
            return False
        for path in dict.fromkeys(loc.path for loc in entry.locations) or [entry.path]:
            stored = self.store.file(path)
            not_read = self.rules.kind(path) is None or (stored is not None and stored.lines == 0)
            same_content = stored is not None and stored.key == self.keys_before.get(path)
            if not (not_read or (entry.status == OPEN and same_content)):
                return False
        return True
