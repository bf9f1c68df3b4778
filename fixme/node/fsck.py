"""Check a node's storage: every block intact, everything referenced present.

What counts as a fault (something a later sync or a repair must fix):
- a block whose bytes do not hash to its id (kinds `corrupt`, `truncated`),
  an empty block (`empty`), a database row with a malformed key (`bad-id`),
  a loose file that cannot be read (`unreadable`), a damaged blocks.db
  (`database`, from `PRAGMA quick_check`);
- a block that something names but the store lacks (`missing`): a chunk of
  a blob manifest, a `parents` / `refs` entry of a record, a head listed in
  a ref whose value is a canonical list of block ids.

An unreferenced block is not a fault (sync may deliver a record before its
log's ref moves). Oddities that fetching a block cannot fix (a manifest that
does not parse, stray files, stale temp files) are notices.

`repair=True` moves bad blocks into quarantine/ (nothing is ever deleted);
what they leave missing is then reported as `missing`, for a sync to fetch.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import canonical
from .blobs import ManifestError, parse_manifest
from .blocks import SMALL_BLOCK_MAX, TEMP_PREFIX, BlockStore
from .hashing import PREFIX, is_block_id
from .refs import Refs

STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to no running writer
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # larger blocks are hashed as a stream, never parsed


@dataclass
class Fault:
    subject: str  # a block id, a ref name, or "blocks.db"
    kind: str  # corrupt | truncated | empty | bad-id | unreadable | database | missing
    message: str  # one line

    def line(self) -> str:
        return f"{self.kind} {self.subject}: {self.message}"


@dataclass
class FsckReport:
    faults: list[Fault] = field(default_factory=list)  # what remains wrong
    checked: int = 0  # blocks checked
    notices: list[str] = field(default_factory=list)
    repaired: list[Fault] = field(default_factory=list)  # faults fixed by this run (quarantined)
    refs_checked: int = 0

    @property
    def clean(self) -> bool:
        return not self.faults

    def to_json(self) -> dict:
        return {"clean": self.clean, "checked": self.checked, "refs_checked": self.refs_checked,
                "faults": [asdict(f) for f in self.faults], "repaired": [asdict(f) for f in self.repaired],
                "notices": list(self.notices)}


@dataclass
class _Bad:
    fault: Fault
    size: int
    quarantine: Callable[[str], object]  # moves it aside, given a reason


def fsck(store: BlockStore, refs: Refs, repair: bool = False) -> FsckReport:
    """Check every block and ref; with `repair`, quarantine bad blocks (see module doc)."""
    report = FsckReport()
    scan = _Scan(report)
    for problem in store.check_database():
        report.faults.append(Fault("blocks.db", "database", problem))

    try:
        for row in store.small_blocks():
            report.checked += 1

            def move_row(reason: str, rowid: int = row.rowid) -> object:
                return store.quarantine_row(rowid, reason)

            data = row.data or b""
            if row.block_id is None:
                scan.bad(Fault(row.label, "bad-id", "database key is not a SHA-256 digest"), len(data), move_row)
            else:
                scan.check(row.block_id, data, len(data), move_row)
    except sqlite3.DatabaseError as exc:
        if not report.faults:  # quick_check may have said it already
            report.faults.append(Fault("blocks.db", "database", f"cannot read the database: {exc}"))

    now = time.time()
    for loose in store.loose_files():
        if loose.block_id is None:
            if loose.path.name.startswith(TEMP_PREFIX):
                age = now - loose.mtime
                if age > STALE_TEMP_SECONDS:
                    report.notices.append(f"stale temp file {loose.path} ({age / 3600:.1f} h old)")
                    if repair:
                        try:
                            moved = store.quarantine_file(loose.path, "stale temp file: a write interrupted by a crash")
                        except OSError as exc:
                            report.notices.append(f"could not quarantine {loose.path}: {exc}")
                        else:
                            report.notices.append(f"moved {loose.path.name} to {moved}")
            else:
                report.notices.append(f"unexpected file {loose.path} (not a block)")
            continue
        report.checked += 1
        bid = loose.block_id

        def move_file(reason: str, path: Path = loose.path, bid: str = bid) -> object:
            return store.quarantine_file(path, reason, label=bid)

        try:
            if loose.size <= MAX_DOCUMENT_BYTES:
                data = loose.path.read_bytes()
                scan.check(bid, data, len(data), move_file)
            else:
                scan.check_stream(bid, loose.path, move_file)
        except FileNotFoundError:
            report.checked -= 1  # quarantined or replaced by someone else meanwhile
        except OSError as exc:
            scan.bad(Fault(bid, "unreadable", f"cannot read {loose.path}: {exc.strerror or exc}"),
                     loose.size, move_file)

    for name in refs.names():
        value = refs.get(name)
        if value is None:
            continue
        report.refs_checked += 1
        try:
            heads = canonical.decode(value)
        except canonical.CanonicalError:
            continue  # not a list of heads: some other kind of ref, nothing to check
        if isinstance(heads, list) and all(is_block_id(h) for h in heads):
            for head in heads:
                scan.want(head, f"head of ref {name}")

    scan.finish(store, repair)
    return report


class _Scan:
    """What one fsck run has seen: good blocks, bad ones, and what is referenced."""

    def __init__(self, report: FsckReport):
        self.report = report
        self.good: set[str] = set()
        self.bad_blocks: list[_Bad] = []
        self.wanted: dict[str, list[str]] = {}  # id -> who needs it
        self.expected_length: dict[str, int] = {}  # chunk id -> length its manifest says

    def bad(self, fault: Fault, size: int, quarantine: Callable[[str], object]) -> None:
        self.bad_blocks.append(_Bad(fault, size, quarantine))

    def want(self, block_id: str, why: str) -> None:
        self.wanted.setdefault(block_id, []).append(why)

    def check(self, block_id: str, data: bytes, size: int, quarantine: Callable[[str], object]) -> None:
        if not data:
            self.bad(Fault(block_id, "empty", "block has no bytes"), 0, quarantine)
            return
        actual = PREFIX + hashlib.sha256(data).hexdigest()
        if actual != block_id:
            self.bad(Fault(block_id, "corrupt", f"{size} bytes that hash to {actual}"), size, quarantine)
            return
        self.good.add(block_id)
        if data[:1] == b"{":
            self._references(block_id, data)

    def check_stream(self, block_id: str, path: Path, quarantine: Callable[[str], object]) -> None:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            while piece := fh.read(1024 * 1024):
                digest.update(piece)
                size += len(piece)
        actual = PREFIX + digest.hexdigest()
        if not size:
            self.bad(Fault(block_id, "empty", "block has no bytes"), 0, quarantine)
        elif actual != block_id:
            self.bad(Fault(block_id, "corrupt", f"{size} bytes that hash to {actual}"), size, quarantine)
        else:
            self.good.add(block_id)

    def _references(self, block_id: str, data: bytes) -> None:
        try:
            doc = canonical.decode(data)
        except canonical.CanonicalError:
            return  # not a document: plain data
        if not isinstance(doc, dict):
            return
        kind = doc.get("type")
        if kind == "blob":
            try:
                manifest = parse_manifest(data)
            except ManifestError as exc:
                self.report.notices.append(f"block {block_id}: {exc}")
                chunks = doc.get("chunks")
                for index, chunk in enumerate(chunks if isinstance(chunks, list) else []):
                    if is_block_id(chunk):
                        self.want(chunk, f"chunk {index} of blob {block_id}")
                return
            for index, chunk in enumerate(manifest.chunks):
                self.want(chunk, f"chunk {index} of blob {block_id}")
                self.expected_length[chunk] = manifest.chunk_length(index)
        elif kind == "record":
            for key, what in (("parents", "parent"), ("refs", "ref")):
                ids = doc.get(key)
                for ref in ids if isinstance(ids, list) else []:
                    if is_block_id(ref):
                        self.want(ref, f"{what} of record {block_id}")

    def finish(self, store: BlockStore, repair: bool) -> None:
        report = self.report
        for bad in self.bad_blocks:
            fault = bad.fault
            expected = self.expected_length.get(fault.subject)
            if fault.kind == "corrupt" and (
                    (expected is not None and bad.size < expected)
                    or (expected is None and bad.size <= SMALL_BLOCK_MAX and store.loose_path(fault.subject).exists())):
                # Too short for its manifest, or a loose file too small to have been
                # written as one: most likely cut short.
                fault.kind = "truncated"
                fault.message = (f"only {bad.size} of {expected} bytes" if expected is not None
                                 else f"only {bad.size} bytes, too short for a loose block")
            if not repair:
                report.faults.append(fault)
                continue
            try:
                moved = bad.quarantine(f"fsck: {fault.kind}: {fault.message}")
            except OSError as exc:
                report.notices.append(f"could not quarantine {fault.subject}: {exc}")
                report.faults.append(fault)
                continue
            if moved is None:
                where: object = "nowhere: it was gone already"
            elif isinstance(moved, Path) and moved.is_relative_to(store.root):
                where = moved.relative_to(store.root)
            else:
                where = moved
            report.repaired.append(Fault(fault.subject, fault.kind, f"{fault.message}; moved to {where}"))

        # Ask the store, not just this scan: a block written while fsck ran is present.
        for block_id in sorted(store.missing(set(self.wanted) - self.good)):
            needed_by = self.wanted[block_id]
            more = f" (and {len(needed_by) - 1} more)" if len(needed_by) > 1 else ""
            report.faults.append(Fault(block_id, "missing", f"needed as {needed_by[0]}{more}"))
