"""Check a node's storage: every block intact, everything referenced present,
both databases sound, every ref readable; and repair what can be repaired.

What counts as a fault (something a later sync or a repair must fix):
- a block whose bytes do not hash to its id (kinds `corrupt`, `truncated`),
  an empty block (`empty`), a database row with a malformed key (`bad-id`),
  a loose file that cannot be read (`unreadable`);
- a damaged blocks.db (`database`: what `PRAGMA integrity_check` says, and
  each stretch of rows that cannot be read);
- a block that something names but the store lacks (`missing`): a chunk of
  a blob manifest, a `parents` / `refs` entry of a record, a head listed in
  a ref whose value is a canonical list of block ids;
- a heads ref (`logs/<log>/heads`) that is empty, not a canonical list of
  block ids, or missing while records.db holds records of its log (`ref`);
- records.db (`index`, when fsck is given its path): missing while the
  blocks hold records, damaged (`integrity_check`), or a row that does not
  match its record's block.

An unreferenced block is not a fault (sync may deliver a record before its
log's ref moves). Oddities that fetching a block cannot fix (a manifest that
does not parse, stray files, stale temp files) are notices.

`repair=True`, in this order:
1. a damaged blocks.db is replaced by a new one holding every row that can
   still be read (the old files go to quarantine/);
2. bad blocks are moved into quarantine/ (nothing is ever deleted);
3. the manifest of a blob a record refers to whose chunks are not all here
   is moved aside too (kind `incomplete`): holding a manifest means holding
   the whole blob, so sync fetches a referenced blob only when its manifest
   is missing;
4. records.db is rebuilt from the blocks when it is missing, damaged or
   disagrees with them; otherwise records whose blocks are gone are removed
   from it with every record that descends from them (their blocks stay);
5. every heads ref that is damaged, missing, or named a removed record is
   written again from records.db.
After steps 3-5 the store names exactly what it lacks, and the next sync
(or `fixme fsck --repair --from PEER`) fetches it. What is still lacking is
reported as `missing`; `refetch` lists the blobs to fetch.
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
from .database import describe_storage_error, integrity_problems
from .hashing import PREFIX, is_block_id
from .log import HeadsRefError, LogIndex, index_row, read_heads
from .rebuild import IndexUnavailable, RebuildReport, looks_like_record, rebuild_index
from .records import RecordError, parse_hashed
from .refs import Refs
from .salvage import Unreadable

STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to no running writer
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # larger blocks are hashed as a stream, never parsed
MAX_LISTED = 20  # problems of one kind listed one by one; the rest are counted
HEADS_REF = "logs/{}/heads"


@dataclass
class Fault:
    subject: str  # a block id, a ref name, "blocks.db" or "records.db"
    kind: str  # corrupt | truncated | empty | bad-id | unreadable | database | missing | ref | index
    message: str  # one line

    def line(self) -> str:
        return f"{self.kind} {self.subject}: {self.message}"


@dataclass
class FsckReport:
    faults: list[Fault] = field(default_factory=list)  # what remains wrong
    checked: int = 0  # blocks checked
    notices: list[str] = field(default_factory=list)
    repaired: list[Fault] = field(default_factory=list)  # faults fixed by this run
    refs_checked: int = 0
    refetch: list[str] = field(default_factory=list)  # blobs a sync should fetch (manifests moved aside, refs missing)

    @property
    def clean(self) -> bool:
        return not self.faults

    def to_json(self) -> dict:
        return {"clean": self.clean, "checked": self.checked, "refs_checked": self.refs_checked,
                "faults": [asdict(f) for f in self.faults], "repaired": [asdict(f) for f in self.repaired],
                "notices": list(self.notices), "refetch": list(self.refetch)}


@dataclass
class _Bad:
    fault: Fault
    size: int
    quarantine: Callable[[str], object]  # moves it aside, given a reason


def fsck(store: BlockStore, refs: Refs, repair: bool = False, index_path: Path | None = None) -> FsckReport:
    """Check every block, ref and (given `index_path`) records.db; with `repair`, repair
    what can be (see module doc). Never raises for damage: it is what the report is for."""
    report = FsckReport()
    _check_blocks_database(store, report, repair)
    scan = _Scan(report)
    _scan_rows(store, scan, report)
    _scan_loose_files(store, scan, report, repair)
    damaged_heads = _scan_refs(refs, scan, report)
    scan.finish(store, repair)
    written: set[str] = set()
    if index_path is not None:
        written = _IndexCheck(store, refs, index_path, scan, report, repair).run(damaged_heads)
    for log, why in sorted(damaged_heads.items()):
        if log not in written:
            report.faults.append(Fault(HEADS_REF.format(log), "ref", why))
    return report


# -- blocks.db as a file ---------------------------------------------------------

def _check_blocks_database(store: BlockStore, report: FsckReport, repair: bool) -> None:
    """integrity_check of blocks.db; with `repair`, salvage a damaged one into a new database."""
    problems = store.check_database(full=True)
    if not problems:
        return
    summary = _summarise(problems)
    if not repair:
        report.faults.append(Fault("blocks.db", "database", summary))
        return
    try:
        salvage = store.salvage_database(f"fsck: {summary}")
    except (sqlite3.Error, OSError) as exc:
        report.faults.append(Fault("blocks.db", "database", f"{summary}; cannot salvage it: "
                                                            f"{describe_storage_error(exc)}"))
        return
    where = _relative(salvage.kept_as, store.root)
    report.repaired.append(Fault("blocks.db", "database", f"{summary}; copied the {salvage.rows} readable rows "
                                                          f"into a new blocks.db, the old one is kept as {where}"))
    for gap in salvage.unreadable:
        report.notices.append(f"{gap.describe('blocks.db')}: their blocks are missing now (the bytes are in {where})")


def _summarise(problems: list[str]) -> str:
    first = problems[0].replace("\n", " ")
    return first if len(problems) == 1 else f"{first} (and {len(problems) - 1} more problems)"


# -- blocks ---------------------------------------------------------------------

def _scan_rows(store: BlockStore, scan: "_Scan", report: FsckReport) -> None:
    """Check every row of blocks.db that can be read; name the stretches that cannot."""
    def unreadable(gap: Unreadable) -> None:
        report.faults.append(Fault("blocks.db", "database", gap.describe("blocks.db")))

    for row in store.small_blocks(on_unreadable=unreadable):
        report.checked += 1

        def move_row(reason: str, rowid: int = row.rowid) -> object:
            return store.quarantine_row(rowid, reason)

        data = row.data or b""
        if row.block_id is None:
            scan.bad(Fault(row.label, "bad-id", "database key is not a SHA-256 digest"), len(data), move_row)
        else:
            scan.check(row.block_id, data, len(data), move_row)


def _scan_loose_files(store: BlockStore, scan: "_Scan", report: FsckReport, repair: bool) -> None:
    now = time.time()
    for loose in store.loose_files():
        if loose.block_id is None:
            _stray_file(store, loose, now, report, repair)
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


def _stray_file(store: BlockStore, loose, now: float, report: FsckReport, repair: bool) -> None:
    """A file under objects/ that is not a block: a temp file (stale ones are moved aside) or a stranger."""
    if not loose.path.name.startswith(TEMP_PREFIX):
        report.notices.append(f"unexpected file {loose.path} (not a block)")
        return
    age = now - loose.mtime
    if age <= STALE_TEMP_SECONDS:
        return
    report.notices.append(f"stale temp file {loose.path} ({age / 3600:.1f} h old)")
    if repair:
        try:
            moved = store.quarantine_file(loose.path, "stale temp file: a write interrupted by a crash")
        except OSError as exc:
            report.notices.append(f"could not quarantine {loose.path}: {exc}")
        else:
            report.notices.append(f"moved {loose.path.name} to {moved}")


# -- refs -------------------------------------------------------------------------

def _scan_refs(refs: Refs, scan: "_Scan", report: FsckReport) -> dict[str, str]:
    """Check every ref; the heads refs that are damaged (log -> why).

    A heads ref must hold a canonical list of block ids, each of them
    wanted. Other refs are only checked when they hold such a list.
    """
    damaged: dict[str, str] = {}
    for name in refs.names():
        value = refs.get(name)
        if value is None:
            continue  # deleted meanwhile
        report.refs_checked += 1
        log = _heads_ref_log(name)
        if log is not None:
            try:
                heads = read_heads(value)
            except HeadsRefError as exc:
                damaged[log] = str(exc)
                continue
        else:
            try:
                heads = canonical.decode(value)
            except canonical.CanonicalError:
                continue  # not a list of heads: some other kind of ref, nothing to check
            if not (isinstance(heads, list) and all(is_block_id(h) for h in heads)):
                continue
        for head in heads:
            scan.want(head, f"head of ref {name}")
    return damaged


def _heads_ref_log(name: str) -> str | None:
    """The log whose heads ref `name` is, or None for another ref."""
    parts = name.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "logs" and parts[2] == "heads" else None


# -- what one scan has seen ------------------------------------------------------

class _Scan:
    """What one fsck run has seen: good blocks, bad ones, and what is referenced."""

    def __init__(self, report: FsckReport):
        self.report = report
        self.good: set[str] = set()
        self.bad_blocks: list[_Bad] = []
        self.wanted: dict[str, list[str]] = {}  # id -> who needs it
        self.expected_length: dict[str, int] = {}  # chunk id -> length its manifest says
        self.manifests: dict[str, tuple[str, ...]] = {}  # manifest id -> its chunks
        self.refs_of_records: set[str] = set()  # ids some record names in `refs`
        # record id -> digest of the index row its block gives, to check records.db against
        self.record_rows: dict[bytes, bytes] = {}
        self.gone: set[str] = set()  # blocks this run moved aside

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
        if looks_like_record(data) and self._record(block_id, data):
            return
        try:
            doc = canonical.decode(data)
        except canonical.CanonicalError:
            return  # not a document: plain data
        if not isinstance(doc, dict):
            return
        kind = doc.get("type")
        if kind == "blob":
            self._manifest(block_id, data, doc)
        elif kind == "record":
            for key, what in (("parents", "parent"), ("refs", "ref")):
                ids = doc.get(key)
                for ref in ids if isinstance(ids, list) else []:
                    if is_block_id(ref):
                        self.want(ref, f"{what} of record {block_id}")
                        if key == "refs":
                            self.refs_of_records.add(ref)

    def _record(self, block_id: str, data: bytes) -> bool:
        """Note what a record names, and the index row it stands for; False if it is not one."""
        try:
            record = parse_hashed(data, block_id)
        except RecordError:
            return False
        for parent in record.parents:
            self.want(parent, f"parent of record {block_id}")
        for ref in record.refs:
            self.want(ref, f"ref of record {block_id}")
            self.refs_of_records.add(ref)
        self.record_rows[bytes.fromhex(block_id[len(PREFIX):])] = _row_digest(index_row(record))
        return True

    def _manifest(self, block_id: str, data: bytes, doc: dict) -> None:
        try:
            manifest = parse_manifest(data)
        except ManifestError as exc:
            self.report.notices.append(f"block {block_id}: {exc}")
            chunks = doc.get("chunks")
            for index, chunk in enumerate(chunks if isinstance(chunks, list) else []):
                if is_block_id(chunk):
                    self.want(chunk, f"chunk {index} of blob {block_id}")
            return
        self.manifests[block_id] = manifest.chunks
        for index, chunk in enumerate(manifest.chunks):
            self.want(chunk, f"chunk {index} of blob {block_id}")
            self.expected_length[chunk] = manifest.chunk_length(index)

    def finish(self, store: BlockStore, repair: bool) -> None:
        """Report (or quarantine) the bad blocks, then what is missing."""
        for bad in self.bad_blocks:
            self._settle(store, bad, repair)
        missing = self._missing(store)
        if repair:
            missing = self._set_aside_incomplete_blobs(store, missing)
        for block_id in sorted(missing):
            needed_by = self.wanted[block_id]
            more = f" (and {len(needed_by) - 1} more)" if len(needed_by) > 1 else ""
            self.report.faults.append(Fault(block_id, "missing", f"needed as {needed_by[0]}{more}"))
            if block_id in self.refs_of_records:
                self.report.refetch.append(block_id)

    def _settle(self, store: BlockStore, bad: _Bad, repair: bool) -> None:
        report = self.report
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
            return
        try:
            moved = bad.quarantine(f"fsck: {fault.kind}: {fault.message}")
        except (OSError, sqlite3.Error) as exc:
            report.notices.append(f"could not quarantine {fault.subject}: {describe_storage_error(exc)}")
            report.faults.append(fault)
            return
        self.gone.add(fault.subject)
        where = "nowhere: it was gone already" if moved is None else _relative(moved, store.root)
        report.repaired.append(Fault(fault.subject, fault.kind, f"{fault.message}; moved to {where}"))

    def _missing(self, store: BlockStore) -> set[str]:
        """What is wanted and absent."""
        return absent(store, set(self.wanted) - self.good)

    def _set_aside_incomplete_blobs(self, store: BlockStore, missing: set[str]) -> set[str]:
        """Move aside every manifest a record refers to whose chunks are not all here;
        `missing` as it is then.

        Sync fetches the blobs records refer to, and takes a held manifest
        for a whole blob (the manifest is stored last), so such a blob that
        lost a chunk is fetched again only once its manifest is missing too.
        Its chunks are no longer wanted by it; it is wanted instead, by the
        records that refer to it. A blob no record refers to (`fixme node
        put`) keeps its manifest, so its lost chunks stay reported; it is
        listed in `refetch` for `--from`.
        """
        for manifest_id, chunks in self.manifests.items():
            lost = [c for c in chunks if c in missing]
            if not lost or manifest_id not in self.good:
                continue
            if manifest_id not in self.refs_of_records:
                self.report.refetch.append(manifest_id)
                continue
            try:
                moved = store.quarantine(manifest_id, f"fsck: blob incomplete: chunk {lost[0]} is missing; "
                                                      "moved aside so that a sync fetches the blob again")
            except (OSError, sqlite3.Error) as exc:
                self.report.notices.append(f"could not move aside {manifest_id}: {describe_storage_error(exc)}")
                continue
            self.good.discard(manifest_id)
            self.gone.add(manifest_id)
            self.report.repaired.append(Fault(manifest_id, "incomplete", (
                f"{len(lost)} of its {len(set(chunks))} chunks missing ({lost[0]}{', …' if len(lost) > 1 else ''});"
                f" moved the manifest to {_relative(moved, store.root)} so that a sync fetches the blob again")))
            for chunk in set(chunks):
                self.wanted[chunk] = [w for w in self.wanted.get(chunk, []) if not w.endswith(f"of blob {manifest_id}")]
                if not self.wanted[chunk]:
                    del self.wanted[chunk]
                    missing.discard(chunk)
            missing.add(manifest_id)
        return missing


def absent(store: BlockStore, ids: set[str]) -> set[str]:
    """Those of `ids` (none of them seen intact by the scan) that the store lacks.

    Asks the store, not just the scan: a block written while fsck ran is
    present. When blocks.db cannot answer (damaged), the scan's word stands.
    """
    if not ids:
        return set()
    try:
        return store.missing(ids)
    except sqlite3.Error:
        return {i for i in ids if not store.loose_path(i).is_file()}


def _row_digest(row: tuple) -> bytes:
    """A short digest of an index row, to compare records.db with the blocks without keeping either."""
    return hashlib.blake2b(repr(row).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _relative(path: object, root: Path) -> object:
    return path.relative_to(root) if isinstance(path, Path) and path.is_relative_to(root) else path


# -- records.db ---------------------------------------------------------------------

class _IndexCheck:
    """records.db against the blocks, and the heads refs against records.db."""

    def __init__(self, store: BlockStore, refs: Refs, path: Path, scan: _Scan, report: FsckReport, repair: bool):
        self.store, self.refs, self.path = store, refs, path
        self.scan, self.report, self.repair = scan, report, repair

    def run(self, damaged_heads: dict[str, str]) -> set[str]:
        """Check (and with repair, fix) records.db and the heads refs; the logs whose heads ref
        was written. A heads ref missing while records.db holds records of its log is added
        to `damaged_heads`."""
        problem = self._why_rebuild()
        if problem is not None:
            if not self.repair:
                self.report.faults.append(Fault("records.db", "index", problem))
                return set()
            rebuilt = self._rebuild(problem)
            if rebuilt is not None:
                for log, why in sorted(damaged_heads.items()):
                    self.report.repaired.append(Fault(HEADS_REF.format(log), "ref",
                                                      f"{why}; wrote it from the rebuilt records.db"))
                return set(rebuilt.heads) | set(damaged_heads)  # the rebuild wrote every heads ref
        if not self.path.exists():
            return set()  # no records anywhere: nothing to check, and a check creates nothing
        try:
            index = LogIndex(self.path)
        except sqlite3.Error as exc:
            self.report.faults.append(Fault("records.db", "index", f"cannot open it: {describe_storage_error(exc)}"))
            return set()
        try:
            rewind = self._evict_records_without_blocks(index)
            return self._check_heads_refs(index, damaged_heads, rewind)
        finally:
            index.close()

    def _why_rebuild(self) -> str | None:
        """Why records.db must be rebuilt from the blocks (missing, damaged, disagreeing), or None."""
        if not self.path.exists():
            if self.scan.record_rows:
                return f"missing, while the blocks hold {len(self.scan.record_rows)} records"
            return None
        problems = integrity_problems(self.path)
        if problems:
            return f"damaged: {_summarise(problems)}"
        try:
            return self._disagreement()
        except (sqlite3.Error, ValueError) as exc:
            return f"cannot be read: {exc}"

    def _disagreement(self) -> str | None:
        """How records.db disagrees with the record blocks, or None.

        A row that does not match its record's block (a flipped byte that
        sqlite's checks cannot see), or no rows at all while the blocks
        hold records (an index made afresh over an old store).
        """
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return self._rows_disagree(conn) or self._empty_but_records(conn)
        finally:
            conn.close()

    def _empty_but_records(self, conn: sqlite3.Connection) -> str | None:
        if not self.scan.record_rows or conn.execute("SELECT 1 FROM records LIMIT 1").fetchone() is not None:
            return None
        return f"holds no records, while the blocks hold {len(self.scan.record_rows)}"

    def _rows_disagree(self, conn: sqlite3.Connection) -> str | None:
        wrong, first = 0, None
        for digest, *rest in conn.execute("SELECT digest, log, author, clock, time, parents, refs, payload"
                                          " FROM records"):
            expected = self.scan.record_rows.get(bytes(digest))
            if expected is not None and expected != _row_digest((bytes(digest), *rest)):
                wrong += 1
                first = first or PREFIX + bytes(digest).hex()
        if not wrong:
            return None
        return f"{wrong} row{'s' if wrong > 1 else ''} disagree with the record's block (first: {first})"

    def _rebuild(self, problem: str) -> RebuildReport | None:
        try:
            rebuilt = rebuild_index(self.path.parent, f"fsck: records.db {problem}")
        except (IndexUnavailable, sqlite3.Error, OSError) as exc:
            why = exc if isinstance(exc, IndexUnavailable) else describe_storage_error(exc)
            self.report.faults.append(Fault("records.db", "index", f"{problem}; cannot rebuild it: {why}"))
            return None
        kept = f"; the old one is kept as {_relative(rebuilt.kept_as, self.store.root)}" if rebuilt.kept_as else ""
        self.report.repaired.append(Fault("records.db", "index", f"{problem}; rebuilt it from the blocks "
                                                                 f"({rebuilt.summary()}){kept}"))
        for rejected in rebuilt.rejected[:MAX_LISTED]:
            self.report.notices.append(f"record {rejected.id} is not indexed: {rejected.reason}")
        return rebuilt

    def _evict_records_without_blocks(self, index: LogIndex) -> set[str]:
        """Records records.db holds whose blocks are gone; with repair, removed with their
        descendants. The logs whose heads must be rewound."""
        gone = absent(self.store, {rid for rid, _ in index.rows() if rid not in self.scan.good})
        if not gone:
            return set()
        if not self.repair:
            unreported = sorted(gone - {f.subject for f in self.report.faults})
            for rid in unreported[:MAX_LISTED]:
                self.report.faults.append(Fault(rid, "missing", "indexed in records.db"))
            if len(unreported) > MAX_LISTED:
                self.report.faults.append(Fault("records.db", "index", (
                    f"{len(unreported) - MAX_LISTED} more indexed records have no block (not listed)")))
            return set()
        logs = {record.log for rid in gone if (record := index.get(rid)) is not None}
        evicted = index.evict(gone)
        after = len(evicted - gone)
        reported = {f.subject for f in self.report.faults}
        for rid in sorted(gone):
            self.report.repaired.append(Fault(rid, "index", "its block is gone: removed it from records.db"))
            if rid not in reported:
                self.report.faults.append(Fault(rid, "missing", "a record removed from records.db; "
                                                                "a sync with a peer that has it fetches it again"))
        if after:
            self.report.repaired.append(Fault("records.db", "index", (
                f"removed the {after} records that descend from those (their blocks stay), so that the next "
                "sync fetches them again in order")))
        return logs

    def _check_heads_refs(self, index: LogIndex, damaged: dict[str, str], rewind: set[str]) -> set[str]:
        """Every log of records.db must have a readable heads ref (one that is missing joins
        `damaged`); with repair, each damaged one, and each of a log in `rewind`, is written
        from the index. The logs whose ref was written."""
        for log in index.logs():
            if log not in damaged and self.refs.get(HEADS_REF.format(log)) is None:
                damaged[log] = "missing, while records.db holds records of the log"
        if not self.repair:
            return set()
        for log in sorted(set(damaged) | rewind):
            name = HEADS_REF.format(log)
            why = damaged.get(log, "named records removed from records.db")
            heads = index.heads_of(log)
            self.refs.update(name, lambda current, heads=heads: canonical.encode(heads))
            self.report.repaired.append(Fault(name, "ref", f"{why}; wrote it from records.db "
                                                           f"({len(heads)} head{'s' if len(heads) != 1 else ''})"))
        return set(damaged) | rewind
