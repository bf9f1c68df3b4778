"""records.db rebuilt from the blocks, and opened so that it is always there and readable.

The blocks are the truth; records.db only indexes the records among them that
passed ingest's checks. When it is lost, or too damaged to read, it is built
again from the blocks with exactly those checks (docs/records.md, Ingest):
each record's hash, form and signature, parents present and accepted, clock
above every parent's and at most MAX_CLOCK_STEP above the largest. Records
whose parents are not in the store wait (they are not indexed) as they would
in ingest; records that fail a check are not indexed either; their blocks
stay. Then every log's heads ref is written from the new index.

Which blocks are records is cheap to tell: a record is a canonical document,
so its bytes start with `{"author":"ed25519:` and end with
`,"type":"record","v":1}` (members are sorted), and it is at most 32 KiB, so
it lives in blocks.db, never in a loose file.

The new index is built in a file of its own beside records.db, then put in
place (a missing records.db) or copied over a damaged one (whose files are
kept in blocks/quarantine/). A lock file serialises rebuilds, so processes
that find the index missing at once rebuild it once.

Memory stays flat: verified records are staged in a temporary table, not in
Python, and ordered by clock there.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from .database import describe_storage_error, integrity_problems, is_damage
from .hashing import PREFIX
from .log import LogIndex, Rejected
from .records import MAX_CLOCK_STEP
from .storage import BLOCKS_DIR, INDEX_FILE

if TYPE_CHECKING:  # opening an index that is fine (every `fixme list`) loads none of these
    from concurrent.futures import Future

    from .blocks import BlockStore
    from .log import RecordLog
    from .refs import Refs
    from .salvage import Unreadable

logger = logging.getLogger(__name__)

RECORD_START = b'{"author":"ed25519:'
RECORD_END = b',"type":"record","v":1}'
CHECK_CHUNK = 512  # records per signature-checking task
CHECKS_IN_FLIGHT = 8  # tasks queued at once: bounds the records held in memory
SOUND_PAGE = 2000  # staged records decided per step of the causal pass
LOCK_SUFFIX = ".rebuild-lock"

T = TypeVar("T")
Notify = Callable[[str], None]  # hears one line when records.db had to be rebuilt


class IndexUnavailable(Exception):
    """records.db cannot be opened, and cannot be rebuilt from the blocks either."""


@dataclass
class RebuildReport:
    """What a rebuild of records.db found and did."""

    reason: str  # why it was rebuilt
    indexed: int = 0  # records in the new index
    rejected: list[Rejected] = field(default_factory=list)  # record blocks that fail ingest's checks
    waiting: int = 0  # valid records whose parents the store lacks
    damaged: int = 0  # record blocks whose bytes do not hash to their id (fsck's to report)
    unreadable: list[str] = field(default_factory=list)  # stretches of blocks.db that could not be read
    heads: dict[str, list[str]] = field(default_factory=dict)  # log -> heads written to its ref
    kept_as: Path | None = None  # the replaced records.db, kept in quarantine
    seconds: float = 0.0
    skipped: bool = False  # another process had rebuilt it already

    def found_anything(self) -> bool:
        """Whether the blocks held any record (a store of blobs alone gets an empty index quietly)."""
        return bool(self.indexed or self.rejected or self.waiting or self.damaged or self.unreadable)

    def summary(self) -> str:
        """One line: what the rebuild found."""
        parts = [f"{self.indexed} records indexed"]
        if self.waiting:
            parts.append(f"{self.waiting} waiting for parents the store lacks")
        if self.rejected:
            parts.append(f"{len(self.rejected)} refused ({self.rejected[0].reason}{', …' if len(self.rejected) > 1 else ''})")
        if self.damaged:
            parts.append(f"{self.damaged} damaged record blocks skipped")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable stretches of blocks.db")
        return ", ".join(parts)


def looks_like_record(data: bytes) -> bool:
    """Whether a block can be a record at all (see the module doc); parsing decides."""
    return data.startswith(RECORD_START) and data.endswith(RECORD_END)


# -- opening -----------------------------------------------------------------

def open_log_index(node_dir: Path, *, create: bool = True, check: bool = False,
                   notify: Notify | None = None) -> LogIndex | None:
    """The node's records.db, rebuilt from the blocks first when it is missing or damaged.

    `create`: make an empty index for a node that has no blocks yet (else
    None). `check`: run sqlite's quick_check first (~50 ms per 100,000
    records), for a process that will use the index for long (a node, a
    sync); without it only damage that stops the index from opening is
    noticed here, and read_log_index notices the rest as it reads.
    `notify` hears what a rebuild did (else it is logged as a warning).
    Raises IndexUnavailable when the index cannot be had.
    """
    node_dir = Path(node_dir)
    path = node_dir / INDEX_FILE
    if not path.exists():
        if not (node_dir / BLOCKS_DIR / "blocks.db").exists():
            return LogIndex(path) if create else None  # no records anywhere: nothing to rebuild
        _rebuild_or_fail(node_dir, "records.db is missing", notify, when=lambda: not path.exists())
    problem = _problem(path, check)
    if problem is not None:
        _rebuild_or_fail(node_dir, f"records.db is damaged ({problem})", notify,
                         when=lambda: _problem(path, check) is not None)
    try:
        # A reader still gets the records where .fixme/node/ cannot be written.
        return LogIndex(path) if create else LogIndex.for_reading(path)
    except sqlite3.OperationalError:
        if create:
            raise  # a writer in a directory it cannot write: the caller names the reason
        raise IndexUnavailable(f"records.db cannot be opened: {path}") from None
    except sqlite3.DatabaseError as exc:
        raise IndexUnavailable(f"records.db cannot be opened even after a rebuild: {exc}") from None


def read_log_index(node_dir: Path, read: Callable[[LogIndex], T], notify: Notify | None = None) -> T | None:
    """`read(index)` on the node's records.db; None when the node holds no records at all.

    Damage found while reading (a page sqlite cannot read, a row whose
    payload does not parse) gets records.db rebuilt from the blocks, and the
    read done again on the new index; IndexUnavailable when that fails too.
    """
    index = open_log_index(node_dir, create=False, notify=notify)
    if index is None:
        return None
    path = Path(node_dir) / INDEX_FILE
    read_from = _file_stamp(path)
    try:
        return read(index)
    except (sqlite3.DatabaseError, ValueError) as exc:
        if isinstance(exc, sqlite3.DatabaseError) and not _is_unreadable(exc):
            raise
        problem = str(exc)
    finally:
        index.close()
    # Another reader that met the same damage may have rebuilt it while we waited for the lock.
    _rebuild_or_fail(node_dir, f"records.db is damaged ({problem})", notify,
                     when=lambda: _file_stamp(path) == read_from)
    index = open_log_index(node_dir, create=False, notify=notify)
    assert index is not None
    try:
        return read(index)
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise IndexUnavailable(f"records.db cannot be read even after a rebuild: {exc}") from None
    finally:
        index.close()


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when records.db is replaced or rewritten: inode, size, modification time."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _is_unreadable(exc: sqlite3.DatabaseError) -> bool:
    """Damage, or a text column that is not UTF-8 any more (a flipped byte in a payload)."""
    return is_damage(exc) or "decode" in str(exc)


def _problem(path: Path, check: bool) -> str | None:
    """Why records.db cannot be used as it is, or None."""
    if check:
        problems = integrity_problems(path, quick=True)
        if problems:
            return problems[0]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("SELECT seq, digest FROM records ORDER BY seq DESC LIMIT 1").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # made by a process that is still setting it up, or empty: LogIndex adds the table
        return str(exc) if _is_unreadable(exc) else None
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None


def _rebuild_or_fail(node_dir: Path, reason: str, notify: Notify | None,
                     when: Callable[[], bool] | None = None) -> RebuildReport:
    try:
        report = rebuild_index(node_dir, reason, when=when)
    except (sqlite3.Error, OSError) as exc:
        raise IndexUnavailable(f"{reason}, and it cannot be rebuilt from the blocks: "
                               f"{describe_storage_error(exc)}") from None
    if not report.skipped and (report.found_anything() or report.kept_as is not None):
        line = f"{reason}: rebuilt it from the blocks in {report.seconds:.1f} s: {report.summary()}"
        if report.kept_as is not None:
            line += f"; the old one is kept as {report.kept_as}"
        (notify or logger.warning)(line)
    return report


# -- rebuilding ----------------------------------------------------------------

def rebuild_index(node_dir: Path, reason: str, when: Callable[[], bool] | None = None) -> RebuildReport:
    """Build records.db again from the blocks of `node_dir` and write every log's heads ref from it.

    `when`, checked once the rebuild lock is held, says whether it is still
    needed (another process may have just done it). Raises IndexUnavailable
    when blocks.db cannot be read at all: an empty index would silently
    put every entry back in its initial state.
    """
    import secrets

    from .database import database_files
    from .storage import open_node_storage

    node_dir = Path(node_dir)
    report = RebuildReport(reason)
    started = time.monotonic()
    with _rebuild_lock(node_dir):
        if when is not None and not when():
            report.skipped = True
            return report
        store, refs = open_node_storage(node_dir)
        live = node_dir / INDEX_FILE
        built = node_dir / f".{INDEX_FILE}.rebuild-{secrets.token_hex(4)}"
        try:
            _build(store, built, report)
            if report.unreadable and not report.indexed and not report.rejected and not report.waiting:
                raise IndexUnavailable(f"{reason}, and the blocks cannot be read to rebuild it "
                                       f"({report.unreadable[0]}); run 'fixme fsck --repair'")
            report.kept_as = _install(built, live, store, reason)
            _write_heads(store, refs, live, report)
        finally:
            for leftover in database_files(built):
                leftover.unlink(missing_ok=True)
            store.close()
    report.seconds = time.monotonic() - started
    return report


class _rebuild_lock:
    """An exclusive flock on records.db.rebuild-lock (kept forever, like ref locks)."""

    def __init__(self, node_dir: Path):
        node_dir.mkdir(parents=True, exist_ok=True)
        self._path = node_dir / (INDEX_FILE + LOCK_SUFFIX)

    def __enter__(self) -> None:
        import fcntl
        import os

        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        import os

        os.close(self._fd)


def _build(store: BlockStore, built: Path, report: RebuildReport) -> None:
    """Fill a new index at `built` with the records of `store` that pass ingest's checks."""
    from .database import BATCH_CACHE_KIB, write_batch

    index = LogIndex(built)
    try:
        # No key while staging: inserting random digests into a b-tree cost
        # twice the rest of the staging. blocks.db holds each digest once, so
        # there are no duplicates; both indexes are built once, by sorting.
        index.db.execute("CREATE TEMP TABLE staged (digest BLOB, log TEXT, author BLOB, clock INTEGER,"
                         " time INTEGER, parents TEXT, refs TEXT, payload TEXT)")
        index.db.execute(f"PRAGMA temp.cache_size=-{BATCH_CACHE_KIB}")
        with write_batch(index.db):
            _stage_verified(store, index.db, report)
            index.db.execute("CREATE INDEX temp.staged_order ON staged (clock, digest)")
            index.db.execute("CREATE INDEX temp.staged_digest ON staged (digest)")
            _index_sound(index, report)
        index.db.execute("DROP TABLE staged")
    finally:
        index.close()


def _stage_verified(store: BlockStore, db: sqlite3.Connection, report: RebuildReport) -> None:
    """Every record block that is intact, well formed and correctly signed, as a staged row.

    Signatures are checked on VERIFY_THREADS threads (libsodium releases
    the GIL) while this thread reads blocks.db; at most CHECKS_IN_FLIGHT
    chunks wait at a time.
    """
    import hashlib
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from .log import VERIFY_THREADS, check_records, index_row

    def unreadable(gap: Unreadable) -> None:
        report.unreadable.append(gap.describe("blocks.db"))

    def collect(future: Future) -> None:
        verified, rejected = future.result()
        db.executemany("INSERT INTO staged VALUES (?,?,?,?,?,?,?,?)", [index_row(r) for r in verified])
        report.rejected += rejected

    pending: deque[Future] = deque()
    chunk: list[tuple[str, bytes]] = []
    with ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="rebuild-verify") as pool:
        for row in store.small_blocks(on_unreadable=unreadable):
            if row.block_id is None or not row.data or not looks_like_record(row.data):
                continue
            if PREFIX + hashlib.sha256(row.data).hexdigest() != row.block_id:
                report.damaged += 1
                continue
            chunk.append((row.block_id, row.data))
            if len(chunk) >= CHECK_CHUNK:
                pending.append(pool.submit(check_records, None, chunk))
                chunk = []
                while len(pending) > CHECKS_IN_FLIGHT:
                    collect(pending.popleft())
        if chunk:
            pending.append(pool.submit(check_records, None, chunk))
        while pending:
            collect(pending.popleft())


def _index_sound(index: LogIndex, report: RebuildReport) -> None:
    """Index the staged records that are causally sound, in (clock, id) order, so parents come first.

    In that order every parent of a record has been decided before it: it
    was indexed (its clock is known), refused, waits, or is not in the store.
    A parent staged with a clock not below the record's comes later in the
    order: the record breaks rule 5 and is refused, as ingest would.
    """
    refused: set[str] = set()
    waiting: set[str] = set()
    after: tuple[int, bytes] = (-1, b"")
    while rows := index.db.execute(
            "SELECT digest, log, author, clock, time, parents, refs, payload FROM staged"
            " WHERE (clock, digest) > (?, ?) ORDER BY clock, digest LIMIT ?", (*after, SOUND_PAGE)).fetchall():
        after = (rows[-1][3], rows[-1][0])
        clocks = index.clocks({p for row in rows for p in row[5].split()})
        accepted = []
        for row in rows:
            record_id = PREFIX + row[0].hex()
            verdict = _verdict(row[3], row[5].split(), clocks, refused, waiting, index.db)
            if verdict is None:
                clocks[record_id] = row[3]
                accepted.append(row)
            elif verdict == "waits":
                waiting.add(record_id)
            else:
                refused.add(record_id)
                report.rejected.append(Rejected(record_id, verdict))
        index.add_rows(accepted)
        report.indexed += len(accepted)
    report.waiting = len(waiting)


def _verdict(clock: int, parents: list[str], clocks: dict[str, int], refused: set[str], waiting: set[str],
             db: sqlite3.Connection) -> str | None:
    """None when a record with this clock and these parents is sound, "waits", or why it is refused."""
    absent = []
    for parent in parents:
        if parent in refused:
            return f"parent {parent} was refused"
        if parent in clocks:
            if clocks[parent] >= clock:
                return f"clock {clock} does not exceed parent {parent}'s"
        else:
            absent.append(parent)
    if absent:
        for parent in absent:
            if parent in waiting:
                continue
            staged = db.execute("SELECT clock FROM staged WHERE digest = ?", (bytes.fromhex(parent[len(PREFIX):]),)
                                ).fetchone()
            if staged is not None and staged[0] >= clock:
                return f"clock {clock} does not exceed parent {parent}'s"
        return "waits"
    base = max((clocks[p] for p in parents), default=0)
    if clock - base > MAX_CLOCK_STEP:
        return f"clock {clock} runs more than {MAX_CLOCK_STEP} ahead of its parents' ({base})"
    return None


def _install(built: Path, live: Path, store: BlockStore, reason: str) -> Path | None:
    """Put the built index in place of records.db; the quarantined copy of the one replaced, if any.

    A records.db that is gone may have left its WAL behind: sqlite would
    replay it into the new file, so it is moved into quarantine too.
    """
    import os

    from .database import database_files, replace_database

    leftovers = [f for f in database_files(live) if f.exists()]
    if not leftovers:
        os.link(built, live)  # never over a records.db another process made meanwhile
        return None
    kept = store.quarantine_database(live, reason)
    if live.exists():
        replace_database(live, built, kept)
    else:
        for leftover in leftovers:
            os.replace(leftover, kept.with_name(kept.name + leftover.name[len(live.name):]))
        os.link(built, live)
    return kept


def _write_heads(store: BlockStore, refs: Refs, live: Path, report: RebuildReport) -> None:
    """Write each log's heads ref from the new index.

    A head the old ref names that the rebuild did not see (a record
    appended while it ran) is ingested from its block first, so it is not
    dropped.
    """
    from . import canonical
    from .log import RecordLog

    index = LogIndex(live)
    try:
        names = set(index.logs()) | _logs_with_heads_refs(refs)
        for name in sorted(names):
            log = RecordLog(store, refs, index, name)
            _ingest_unindexed_heads(log)
            heads = index.heads_of(name)
            if heads or refs.get(log.heads_ref) is not None:
                refs.update(log.heads_ref, lambda current, heads=heads: canonical.encode(heads))
            report.heads[name] = heads
    finally:
        index.close()


def _logs_with_heads_refs(refs: Refs) -> set[str]:
    return {name.split("/")[1] for name in refs.names()
            if name.startswith("logs/") and name.endswith("/heads") and name.count("/") == 2}


def _ingest_unindexed_heads(log: "RecordLog") -> None:
    from .blocks import BlockCorrupt, BlockNotFound
    from .log import HeadsRefError, read_heads

    try:
        heads = read_heads(log.refs.get(log.heads_ref))
    except HeadsRefError:
        return
    unknown = [h for h in heads if h not in log.index.known(heads)]
    blocks = []
    for head in unknown:
        try:
            blocks.append(log.store.get(head))
        except (BlockNotFound, BlockCorrupt):
            continue
    if blocks:
        log.ingest(blocks)
