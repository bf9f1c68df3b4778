"""Incremental scan: work tree → occurrences → blame → entries, remembering.

The expensive parts are reading files and blaming their tag lines, so both
are skipped whenever the cache can vouch for the answer:

* nothing changed (same HEAD, same `git status`, same sizes and mtimes of
  the changed files, same config): the previous result stands;
* a file unchanged since the last scan (same blob, or same stat for a file
  that differs from HEAD) keeps its occurrences;
* a tag line in a blob blamed before keeps its origin.

What is left is blamed by replaying the history once when many files need
it (a cold scan) and by per-file `git blame` in parallel otherwise.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from .assemble import Occurrence, assemble
from .blame import Origin, blame_file, replay_blame, uncommitted
from .cache import BlameCache, ScanCache, ensure_state_dir, origin_from_list, origin_to_list, raw_from_dict, raw_to_dict
from .entry import GONE, OPEN, Entry
from .files import FileKind, FileRules, Skipped, read_text
from .gitio import Git, GitError, Status, StatusEntry, first_line, parse_status
from .model import RawEntry
from .tags import TagSyntax

# Below this many files to blame, per-file `git blame` beats reading the whole
# history; above it, one replay of `git log -p` is cheaper (on a 3000-commit
# repository a replay costs about as much as 60 single-file blames).
REPLAY_MIN_FILES = 48

Progress = Callable[[str, int, int], None]  # phase, done, total


@dataclass
class ScanSummary:
    files: int = 0  # files scanned (considered) this time
    entries: int = 0  # open entries
    new: int = 0
    gone: int = 0
    reread: int = 0  # files read and parsed this time
    blamed: int = 0  # files whose lines needed blame this time
    seconds: float = 0.0
    unchanged: bool = False  # nothing changed since the last scan
    head: str | None = None
    notices: list[str] = field(default_factory=list)


@dataclass
class _FileRecord:
    key: str
    raws: list[RawEntry]
    origins: dict[int, Origin] | None = None  # for files that differ from HEAD


class Scanner:
    def __init__(self, root: Path, config: Config, progress: Progress | None = None):
        self.root = root
        self.config = config
        self.git = Git(root)
        self.cache = ScanCache(root)
        self.rules = FileRules(config)
        self.tags = TagSyntax(config.tags)
        self.progress = progress or (lambda phase, done, total: None)

    # -- the quick check -------------------------------------------------
    def quick_check(self) -> tuple[Status, dict, bool]:
        """Run `git status` and compare with the last scan; True when nothing changed."""
        proc = self.git.popen(*self.git.status_command())
        state = self.cache.load_state()  # read while git works
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise GitError(first_line(err) or "git status failed")
        status = parse_status(out)
        unchanged = (
            bool(state)
            and state.get("config") == self.config.fingerprint()
            and state.get("status") == _digest(out)
            and state.get("dirty") == self._dirty_stats(status)
        )
        return status, state, unchanged

    def _dirty_stats(self, status: Status) -> dict[str, list[int]]:
        stats: dict[str, list[int]] = {}
        for item in status.entries:
            try:
                st = os.stat(self.root / item.path)
            except OSError:
                continue
            stats[item.path] = [st.st_size, st.st_mtime_ns]
        return stats

    # -- the scan --------------------------------------------------------
    def scan(self, force: bool = False) -> ScanSummary:
        started = time.perf_counter()
        status, state, unchanged = self.quick_check()
        if unchanged and not force:
            summary = ScanSummary(**{**state.get("summary", {}), "unchanged": True, "new": 0, "gone": 0,
                                     "reread": 0, "blamed": 0, "notices": []})
            summary.seconds = time.perf_counter() - started
            return summary
        ensure_state_dir(self.root)
        summary = ScanSummary(head=status.head)
        cached = {} if force else self.cache.load_files()
        tree = self._tree(status.head, cached)
        records = self._collect(status, tree, cached.get("files", {}), summary)
        blame_cache = self.cache.load_blame()
        occurrences = self._bind(records, tree, status.head, blame_cache, summary)
        entries = assemble(occurrences, self.config)
        merged = self._lifecycle(entries, status.head, summary)
        self._save(status, tree, records, blame_cache, merged, summary)
        summary.seconds = time.perf_counter() - started
        return summary

    def _tree(self, head: str | None, cached: dict) -> dict[str, str]:
        if head is None:
            return {}
        if cached.get("head") == head and isinstance(cached.get("tree"), dict):
            return cached["tree"]
        return self.git.tree(head)

    def _collect(self, status: Status, tree: dict[str, str], cached: dict, summary: ScanSummary) -> dict[str, _FileRecord]:
        """Occurrences per scanned file, re-reading only files whose key changed."""
        dirty = {item.path: item for item in status.entries}
        paths = [p for p in tree if p not in dirty] + [p for p in dirty]
        records: dict[str, _FileRecord] = {}
        to_read: list[tuple[str, str, FileKind]] = []
        for path in paths:
            kind = self.rules.kind(path)
            if kind is None:
                continue
            key = self._key(path, tree, dirty)
            if key is None:
                continue  # deleted in the work tree
            summary.files += 1
            old = cached.get(path)
            record = _record_from_cache(old, key) if isinstance(old, dict) else None
            if record is not None:
                records[path] = record
            else:
                to_read.append((path, key, kind))
        for done, (path, key, kind) in enumerate(to_read, 1):
            raws = self._parse(path, kind, summary)
            if raws is not None:
                records[path] = _FileRecord(key, raws)
            if done % 200 == 0 or done == len(to_read):
                self.progress("reading", done, len(to_read))
        summary.reread = len(to_read)
        return records

    def _key(self, path: str, tree: dict[str, str], dirty: dict[str, StatusEntry]) -> str | None:
        if path not in dirty:
            return "blob:" + tree[path]
        try:
            st = os.lstat(self.root / path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # symlinks and directories are not sources
        return f"stat:{st.st_size}:{st.st_mtime_ns}"

    def _parse(self, path: str, kind: FileKind, summary: ScanSummary) -> list[RawEntry] | None:
        text = read_text(self.root / path, self.config.max_file_size)
        if isinstance(text, Skipped):
            if text.notice:
                summary.notices.append(f"skipped {path}: {text.reason}")
            return [] if text.reason != "missing" else None
        if kind.grammar == "code":
            from .codescan import scan_code

            return scan_code(text, kind.language, self.tags)
        if not (self.tags.mentions_any(text) or _may_hold_tasks(text)):
            return []
        from .prose import scan_prose

        return scan_prose(text, self.tags, markdown=kind.markdown)

    # -- blame -----------------------------------------------------------
    def _bind(self, records: dict[str, _FileRecord], tree: dict[str, str], head: str | None,
              blame_cache: BlameCache, summary: ScanSummary) -> list[Occurrence]:
        """Attach the origin of every tag line, blaming only what the cache lacks."""
        origins: dict[str, dict[int, Origin]] = {}
        at_head: dict[str, set[int]] = {}  # clean files: blame at HEAD, cacheable by blob
        in_tree: dict[str, set[int]] = {}  # modified files: blame the work-tree version
        for path, record in records.items():
            lines = {raw.line for raw in record.raws}
            if not lines:
                continue
            if record.key.startswith("blob:"):
                found, missing = blame_cache.lookup(tree[path], lines)
                origins[path] = found
                if missing:
                    at_head[path] = missing
            elif record.origins is not None and lines <= record.origins.keys():
                origins[path] = record.origins
            elif head is not None and path in tree:
                in_tree[path] = lines
            else:
                origins[path] = {n: uncommitted(path) for n in lines}
        summary.blamed = len(at_head) + len(in_tree)
        fresh = self._blame(head, at_head, in_tree)
        for path, found in fresh.items():
            origins.setdefault(path, {}).update(found)
            if path in at_head:
                blame_cache.store(tree[path], found)
            else:
                records[path].origins = found
        occurrences = []
        for path, record in records.items():
            known = origins.get(path, {})
            for raw in record.raws:
                occurrences.append(Occurrence(path, raw, known.get(raw.line) or uncommitted(path)))
        return occurrences

    def _blame(self, head: str | None, at_head: dict[str, set[int]], in_tree: dict[str, set[int]]) -> dict[str, dict[int, Origin]]:
        result: dict[str, dict[int, Origin]] = {}
        if head is not None and len(at_head) >= REPLAY_MIN_FILES:
            self.progress("reading history", 0, 1)
            result.update(replay_blame(self.git, head, at_head))
            self.progress("reading history", 1, 1)
        jobs = [(p, lines, head) for p, lines in at_head.items() if p not in result]
        jobs += [(p, lines, None) for p, lines in in_tree.items()]
        if not jobs:
            return result
        workers = min(len(jobs), os.cpu_count() or 2)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [(path, pool.submit(self._blame_one, path, lines, rev)) for path, lines, rev in jobs]
            for done, (path, future) in enumerate(futures, 1):
                result[path] = future.result()
                self.progress("blaming", done, len(futures))
        return result

    def _blame_one(self, path: str, lines: set[int], rev: str | None) -> dict[int, Origin]:
        try:
            return blame_file(self.git, path, lines, rev)
        except GitError:
            # e.g. the file changed under us; its lines count as not committed
            return {n: uncommitted(path) for n in lines}

    # -- lifecycle and saving --------------------------------------------
    def _lifecycle(self, entries: list[Entry], head: str | None, summary: ScanSummary) -> list[Entry]:
        """Carry history over from the previous scan: first seen, gone, back again."""
        previous = {e.id: e for e in (self.cache.load_entries() or [])}
        current = {e.id for e in entries}
        for entry in entries:
            old = previous.get(entry.id)
            entry.first_seen = old.first_seen if old and old.first_seen else head
            entry.seen_at = head
            if old is None or old.status == GONE:
                summary.new += old is None
        gone = []
        for old in previous.values():
            if old.id in current:
                continue
            if old.status == OPEN:
                old.status = GONE
                summary.gone += 1
            if old.gone_commit is None and head is not None and head != old.seen_at:
                old.gone_commit = head
            gone.append(old)
        summary.entries = len(entries)
        return entries + gone

    def _save(self, status: Status, tree: dict[str, str], records: dict[str, _FileRecord],
              blame_cache: BlameCache, entries: list[Entry], summary: ScanSummary) -> None:
        blame_cache.keep_only({tree[p] for p, r in records.items() if r.raws and p in tree})
        self.cache.save_blame(blame_cache)
        self.cache.save_files(status.head, tree, {p: _record_to_cache(r) for p, r in records.items()})
        self.cache.save_entries(entries)
        keep = {"files": summary.files, "entries": summary.entries, "head": summary.head}
        self.cache.save_state({
            "config": self.config.fingerprint(),
            "status": _digest(status.raw),
            "dirty": self._dirty_stats(status),
            "summary": keep,
        })


def _may_hold_tasks(text: str) -> bool:
    """Task lists name no tag; a cheap look for a checkbox before parsing prose."""
    return "[ ]" in text or "[x]" in text or "[X]" in text


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _record_to_cache(record: _FileRecord) -> dict:
    data: dict = {"key": record.key}
    if record.raws:
        data["raws"] = [raw_to_dict(r) for r in record.raws]
    if record.origins is not None:
        data["origins"] = {str(n): origin_to_list(o) for n, o in record.origins.items()}
    return data


def _record_from_cache(data: dict, key: str) -> _FileRecord | None:
    if data.get("key") != key:
        return None
    try:
        raws = [raw_from_dict(d) for d in data.get("raws", [])]
        origins = data.get("origins")
        parsed = {int(n): origin_from_list(cell) for n, cell in origins.items()} if origins else None
    except (TypeError, ValueError, AttributeError):
        return None
    return _FileRecord(key, raws, parsed)
