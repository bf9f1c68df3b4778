"""A record log: signed records in the block store, an index, and a heads ref.

The records of one log form a DAG: each names the heads its author had seen.
The log's heads (records nothing else names as a parent) are a ref in the
store, `logs/NAME/heads`, holding the canonical list of their ids.

Every record is verified (hash, form and signature) once, when it enters
the log; the index (`records.db`, sqlite) then holds its fields, and being in
the index is what "verified" means. Reading the log never verifies again.
Records are parsed and their signatures checked on a small thread pool:
libsodium releases the GIL, so on two cores ingest runs faster than one core
can verify.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol, TypeVar

from . import canonical
from .database import connect_read_only, connect_wal, write_batch
from .hashing import PREFIX, block_id, is_block_id
from .records import MAX_CLOCK_STEP, Record, RecordError, parse_hashed, sign_record, verify_signature

if TYPE_CHECKING:  # reading the index (what `fixme list` does) needs none of these
    from nacl.signing import SigningKey

    from .blocks import BlockStore
    from .refs import Refs

logger = logging.getLogger(__name__)

VERIFY_THREADS = 2
VERIFY_PIECE = 256   # records per verifier task: enough to be worth a thread, small enough that both share an answer
VERIFY_BATCH = 512  # at most this many records per worker task
SMALL_INGEST = 16  # up to this many fresh records are checked without threads
LINKS_PREFETCH = 256  # rows read ahead by links_and_neighbours

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    digest BLOB NOT NULL UNIQUE, -- the 32 bytes of the record's sha256 id: half the index of the text
    log TEXT NOT NULL,
    author BLOB NOT NULL,
    clock INTEGER NOT NULL,
    time INTEGER NOT NULL,
    parents TEXT NOT NULL, -- block ids separated by spaces
    refs TEXT NOT NULL,
    payload TEXT NOT NULL
);
-- One random token per index file, drawn the first time someone asks: a
-- records.db rebuilt from the blocks or replaced has another. Caches that
-- follow the index by `seq` (the tracker's folded state) tell by it that the
-- numbers began again.
CREATE TABLE IF NOT EXISTS generation (token TEXT NOT NULL);
"""
# PRAGMA user_version of records.db. 1: no record's clock runs more than
# MAX_CLOCK_STEP ahead of its parents' (an older fixme accepted any clock).
INDEX_VERSION = 1
EVICT_BATCH = 1000


@dataclass
class Rejected:
    id: str
    reason: str


@dataclass
class IngestReport:
    added: list[Record] = field(default_factory=list)
    known: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Valid records whose parents are not here yet: offer them again with (or
    # after) their parents. Sync fetches parents first, so this stays empty there.
    waiting: list[Record] = field(default_factory=list)


class Linked(Protocol):
    """What the causal checks of ingest read of a record."""

    @property
    def id(self) -> str: ...

    @property
    def clock(self) -> int: ...

    @property
    def parents(self) -> tuple[str, ...]: ...


L = TypeVar("L", bound=Linked)


@dataclass(frozen=True, slots=True)
class StagedRecord:
    """A verified record as a pull staged it: the index row and the bytes, nothing to parse again."""

    id: str
    clock: int
    parents: tuple[str, ...]
    row: tuple  # as index_row gives it
    data: bytes


@dataclass
class StagedIngest:
    """What ingest_staged did with one page of staged records."""

    added: int = 0
    known: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    waiting: int = 0  # valid, but a parent is not in the log


class LogIndex:
    """The sqlite index of verified records, shared by every log of a store."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = connect_wal(path, _SCHEMA)
        # Checkpoint every ~40 MB of WAL rather than 4 MB, as blocks.db does:
        # ingest inserts random digests, which dirty the same index pages
        # batch after batch, and a rarer checkpoint copies each page once.
        self.db.execute("PRAGMA wal_autocheckpoint=10000")
        if self.db.execute("PRAGMA user_version").fetchone()[0] < INDEX_VERSION:
            self._upgrade()

    @classmethod
    def for_reading(cls, path: Path) -> "LogIndex":
        """The index opened to read only: where it cannot be opened for writing (a read-only
        `.fixme/node/`), what it holds can still be listed. No upgrade is made."""
        try:
            return cls(path)
        except (OSError, sqlite3.OperationalError):
            index = cls.__new__(cls)
            index.path = path
            index.db = connect_read_only(path)
            return index

    def _upgrade(self) -> None:
        """Bring an index written by an older fixme up to INDEX_VERSION, once."""
        with write_batch(self.db):
            version = self.db.execute("PRAGMA user_version").fetchone()[0]  # another process may have done it
            if version < 1:
                evicted = self._evict_runaway_clocks()
                if evicted:
                    logger.warning("%s: removed %d records whose clock ran more than %d ahead of their parents'"
                                   " (and their descendants); an older fixme had accepted them",
                                   self.path, evicted, MAX_CLOCK_STEP)
            self.db.execute(f"PRAGMA user_version={INDEX_VERSION}")

    def _evict_runaway_clocks(self) -> int:
        """Remove the records that break the MAX_CLOCK_STEP rule, and their descendants, as
        ingest would have refused them; how many. Their blocks stay in the store."""
        top = self.db.execute("SELECT max(clock) FROM records").fetchone()[0]
        if top is None or top <= MAX_CLOCK_STEP:
            return 0  # no clock can be that far ahead of its parents'
        return len(self._evict_where(_runs_ahead))

    def evict(self, ids: Iterable[str]) -> set[str]:
        """Remove these records and every record that descends from one of them; the ids removed.

        For records whose blocks are gone (fsck moved them aside): a log
        must stay closed under parents, and once they are out of the index
        the next sync sees them, and what came after them, as missing and
        fetches them again. The descendants' blocks stay in the store.
        """
        doomed = set(ids)
        if not doomed:
            return set()
        with write_batch(self.db):
            return self._evict_where(lambda record_id, clock, parent_clocks: record_id in doomed)

    def _evict_where(self, condemned: "Callable[[str, int, list[int]], bool]") -> set[str]:
        """Remove the records `condemned(id, clock, indexed parent clocks)` picks, and their
        descendants, inside the caller's transaction; the ids removed.

        Parents are indexed before their children, so one pass in `seq` order
        sees every parent first.
        """
        evicted: set[str] = set()
        last = 0
        while rows := self.db.execute("SELECT seq, digest, clock, parents FROM records WHERE seq > ?"
                                      " ORDER BY seq LIMIT ?", (last, EVICT_BATCH)).fetchall():
            last = rows[-1][0]
            clocks = self.clocks({p for row in rows for p in row[3].split()})
            for _, digest, clock, parents in rows:
                parent_ids = parents.split()
                record_id = _id(digest)
                if not evicted.isdisjoint(parent_ids) or condemned(
                        record_id, clock, [clocks[p] for p in parent_ids if p in clocks]):
                    evicted.add(record_id)
        self.db.executemany("DELETE FROM records WHERE digest = ?", [(_digest(i),) for i in evicted])
        return evicted

    def close(self) -> None:
        self.db.close()

    def generation(self) -> str | None:
        """This index file's token (see _SCHEMA); drawn on first need. None where it has none and
        cannot be given one (opened read-only): a follower then cannot trust its marks."""
        query = "SELECT token FROM generation ORDER BY rowid LIMIT 1"
        try:
            row = self.db.execute(query).fetchone()
            if row is None:
                import secrets  # only here: secrets loads random, hmac and base64 (~3 ms of a list)

                # A reader does not wait out a long ingest for this: it asks again next time.
                timeout = self.db.execute("PRAGMA busy_timeout").fetchone()[0]
                self.db.execute("PRAGMA busy_timeout = 200")
                try:
                    # One statement: two processes asking at once still leave one token.
                    self.db.execute("INSERT INTO generation (token) SELECT ? WHERE NOT EXISTS"
                                    " (SELECT 1 FROM generation)", (secrets.token_hex(16),))
                finally:
                    self.db.execute(f"PRAGMA busy_timeout = {int(timeout)}")
                row = self.db.execute(query).fetchone()
        except sqlite3.OperationalError:  # read-only, busy, or an old file opened read-only without the table
            return None
        return None if row is None else row[0]

    @contextmanager
    def snapshot(self) -> Iterator["LogIndex"]:
        """Several reads that see one state of the index (a writer may commit meanwhile)."""
        self.db.execute("BEGIN")
        try:
            yield self
        finally:
            self.db.execute("COMMIT")

    def tally(self, after_seq: int) -> tuple[int, int, int]:
        """(highest seq, records in the index, records above `after_seq`), all logs.

        Seqs are never reused (AUTOINCREMENT), so a follower that read up to
        `after_seq` and counted N records then knows none of those was
        removed since (fsck's evict) when the count is N + the third figure.
        """
        top = self.db.execute("SELECT max(seq) FROM records").fetchone()[0] or 0
        total = self.db.execute("SELECT count(*) FROM records").fetchone()[0]
        after = self.db.execute("SELECT count(*) FROM records WHERE seq > ?", (after_seq,)).fetchone()[0]
        return top, total, after

    def known(self, ids: Iterable[str]) -> set[str]:
        return {record_id for record_id, _ in self._clock_rows(ids)}

    def clocks(self, ids: Iterable[str]) -> dict[str, int]:
        return dict(self._clock_rows(ids))

    def _clock_rows(self, ids: Iterable[str]) -> Iterator[tuple[str, int]]:
        """(id, clock) of those of `ids` in the index, asked in chunks sqlite accepts."""
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for digest, clock in self.db.execute(f"SELECT digest, clock FROM records WHERE digest IN ({marks})",
                                                 [_digest(i) for i in chunk]):
                yield _id(digest), clock

    def links(self, ids: Iterable[str]) -> dict[str, tuple[int, tuple[str, ...]]]:
        """(clock, parents) of those of `ids` in the index: what a walk through the DAG needs."""
        ids = list(ids)
        found: dict[str, tuple[int, tuple[str, ...]]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT digest, clock, parents FROM records WHERE digest IN ({marks})",
                                   [_digest(i) for i in chunk])
            for digest, clock, parents in rows:
                found[_id(digest)] = (clock, tuple(parents.split()))
        return found

    def links_and_neighbours(self, ids: Iterable[str], before: int = LINKS_PREFETCH
                             ) -> dict[str, tuple[int, tuple[str, ...]]]:
        """links(ids), plus those of the `before` records indexed just before the oldest of them.

        For a walk back through the DAG: ingest stores parents before their
        children, so a record's ancestors mostly sit just below it in the
        index, and one range read of the primary key brings the next
        hundreds of steps instead of one point query per step. The extra
        rows are only ever looked up by id, so a poor guess costs reading
        them, never a wrong answer.
        """
        ids = list(ids)
        found: dict[str, tuple[int, tuple[str, ...]]] = {}
        oldest: int | None = None
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT seq, digest, clock, parents FROM records WHERE digest IN ({marks})",
                                   [_digest(i) for i in chunk])
            for seq, digest, clock, parents in rows:
                found[_id(digest)] = (clock, tuple(parents.split()))
                oldest = seq if oldest is None else min(oldest, seq)
        if oldest is not None and before > 0:
            rows = self.db.execute("SELECT digest, clock, parents FROM records WHERE seq >= ? AND seq < ?",
                                   (oldest - before, oldest))
            for digest, clock, parents in rows:
                found.setdefault(_id(digest), (clock, tuple(parents.split())))
        return found

    def sample(self, log: str, limit: int) -> list[str]:
        """Up to `limit` records of `log`: the latest to arrive, then ever further back
        (1st, 2nd, 4th, 8th, ... from the end), like a git or bitcoin "locator".
        A peer that knows one of them knows it need not send its ancestors."""
        picked: list[str] = []
        back = 0
        while len(picked) < limit:
            row = self.db.execute("SELECT digest FROM records WHERE log = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                                  (log, back)).fetchone()
            if row is None:
                break
            picked.append(_id(row[0]))
            back = back * 2 + 1
        return picked

    def add(self, records: list[Record]) -> None:
        """Index verified records, all or none."""
        self.add_rows_batch([index_row(r) for r in records])

    def add_rows_batch(self, rows: list[tuple]) -> None:
        """Index rows made by index_row, all or none."""
        with write_batch(self.db):
            self.add_rows(rows)

    def add_rows(self, rows: Iterable[tuple]) -> None:
        """Insert rows made by index_row, inside the caller's transaction."""
        self.db.executemany(
            "INSERT OR IGNORE INTO records (digest, log, author, clock, time, parents, refs, payload)"
            " VALUES (?,?,?,?,?,?,?,?)", rows)

    def ids(self, log: str) -> Iterator[str]:
        """The id of every record of `log` in the index (no payload parsed: for set arithmetic)."""
        for (digest,) in self.db.execute("SELECT digest FROM records WHERE log = ?", (log,)):
            yield _id(digest)

    def count(self, log: str) -> int:
        return self.db.execute("SELECT count(*) FROM records WHERE log = ?", (log,)).fetchone()[0]

    def has_log(self, log: str) -> bool:
        """Whether the index holds any record of `log`."""
        return self.db.execute("SELECT 1 FROM records WHERE log = ? LIMIT 1", (log,)).fetchone() is not None

    def logs(self) -> list[str]:
        """The names of the logs that have records in the index."""
        return [name for (name,) in self.db.execute("SELECT DISTINCT log FROM records ORDER BY log")]

    def heads_of(self, log: str) -> list[str]:
        """The log's heads as the index alone says: its records no other record of it names as a parent.

        Parents are indexed before their children, so walking the log in
        descending `seq` meets every record after all its children: it is a
        head unless one of them named it, and once met it can be forgotten.
        Memory stays at the log's width, whatever its length; time is one
        read of the log (~1 s per million records), so this is for a heads
        ref that is lost or damaged, not for every read.
        """
        heads: list[str] = []
        named: set[str] = set()  # parents named by records already met, not met themselves yet
        for digest, parents in self.db.execute(
                "SELECT digest, parents FROM records WHERE log = ? ORDER BY seq DESC", (log,)):
            record_id = _id(digest)
            if record_id in named:
                named.discard(record_id)
            else:
                heads.append(record_id)
            named.update(parents.split())
        return sorted(heads)

    def rows(self) -> Iterator[tuple[str, tuple]]:
        """(id, row as index_row gives it) of every record in the index, in seq order; for fsck."""
        last = 0
        while rows := self.db.execute(
                "SELECT seq, digest, log, author, clock, time, parents, refs, payload FROM records"
                " WHERE seq > ? ORDER BY seq LIMIT ?", (last, EVICT_BATCH)).fetchall():
            last = rows[-1][0]
            for _, *row in rows:
                yield _id(row[0]), tuple(row)

    def records(self, log: str, after_seq: int = 0) -> Iterator[tuple[int, Record]]:
        rows = self.db.execute(
            "SELECT seq, digest, log, author, clock, time, parents, refs, payload FROM records"
            " WHERE log = ? AND seq > ? ORDER BY seq", (log, after_seq))
        for seq, *row in rows:
            yield seq, _record_of(row)

    def get(self, record_id: str) -> Record | None:
        row = self.db.execute(
            "SELECT digest, log, author, clock, time, parents, refs, payload FROM records WHERE digest = ?",
            (_digest(record_id),)).fetchone()
        return None if row is None else _record_of(row)


class RecordLog:
    """One named log in a store: append, ingest, read, heads."""

    def __init__(self, store: BlockStore, refs: Refs, index: LogIndex, name: str):
        self.store = store
        self.refs = refs
        self.index = index
        self.name = name
        self.heads_ref = f"logs/{name}/heads"

    # -- reading ---------------------------------------------------------
    def heads(self) -> list[str]:
        """The log's heads: the ref's, each one the index lacks replaced by its nearest
        indexed ancestors; from the index itself when the ref is lost or damaged."""
        value = self.refs.get(self.heads_ref)
        if value is None:
            return self._restore_heads_ref("the heads ref is missing") if self.index.has_log(self.name) else []
        try:
            return self._indexed(read_heads(value))
        except HeadsRefError as exc:
            return self._restore_heads_ref(str(exc))

    def _restore_heads_ref(self, problem: str) -> list[str]:
        """Heads from the index, written to a heads ref that is damaged (or missing while the
        index holds records of the log): a writer must never sign on top of nothing."""
        heads = self.index.heads_of(self.name)
        if not heads:
            return []
        logger.warning("%s: %s; restored it from the index (%d heads)", self.heads_ref, problem, len(heads))

        def change(current: bytes | None) -> bytes | None:
            try:
                return current if read_heads(current) else canonical.encode(heads)  # someone fixed it meanwhile
            except HeadsRefError:
                return canonical.encode(heads)

        self.refs.update(self.heads_ref, change)
        return heads

    def _indexed(self, heads: list[str]) -> list[str]:
        """`heads`, each one the index lacks replaced by its nearest indexed ancestors.

        The index gains a record before the heads ref names it, so normally
        every head is indexed. One is not when the index dropped it (a record
        an older fixme accepted and this one refuses) or lost it; writing on
        top of it would give a record that no peer can accept.
        """
        absent = set(heads) - self.index.known(heads)
        if not absent:
            return heads
        from .blocks import BlockCorrupt, BlockNotFound

        found = set(heads) - absent
        seen: set[str] = set()
        while absent:
            record_id = absent.pop()
            seen.add(record_id)
            try:
                parents = parse_hashed(self.store.get(record_id), record_id).parents
            except (BlockNotFound, BlockCorrupt, RecordError):
                # Its ancestry is unknown here (its block was moved aside or lost): only
                # the index can say where the log ends now.
                return self.index.heads_of(self.name)
            indexed = self.index.known(parents)
            found |= indexed
            absent |= {p for p in parents if p not in indexed and p not in seen}
        return sorted(found)

    def records(self, after_seq: int = 0) -> Iterator[tuple[int, Record]]:
        """Every verified record of this log, in the order they arrived, with its sequence number."""
        return self.index.records(self.name, after_seq)

    def get(self, record_id: str) -> Record | None:
        return self.index.get(record_id)

    # -- writing ---------------------------------------------------------
    def append(self, key: SigningKey, payload: dict, refs: Iterable[str] = (),
               time_ms: int | None = None) -> Record:
        """Sign a record on top of the current heads and add it.

        Two processes appending at once both land: each names the heads it
        saw, and the heads afterwards name both new records.
        """
        parents = self.heads()
        clock = 1 + max(self.index.clocks(parents).values(), default=0)
        stamp = int(time.time() * 1000) if time_ms is None else time_ms
        record = sign_record(key, self.name, parents, clock, stamp, payload, list(refs))
        self.store.put(record.data)
        self.index.add([record])
        self._move_heads([record])
        return record

    def ingest(self, blocks: Iterable[bytes]) -> IngestReport:
        """Verify and add records that came from elsewhere (a peer, a backup).

        Already-known records are counted, not verified again. A record that
        is malformed, badly signed, of another log, or whose clock does not
        exceed its parents' is rejected with a reason. A record goes in only
        with all its parents (already here or in the same call, in any
        order); one that misses a parent waits. So whether a record is
        accepted never depends on the order records arrive in, and every peer
        that holds the same records holds the same log.
        """
        report = IngestReport()
        fresh = self._fresh(blocks, report)
        verified = self._check_all(fresh, report)
        report.added = self._add_sound(verified, report)
        return report

    def verify(self, records: list[Record]) -> tuple[list[Record], list[Rejected]]:
        """The records (parsed by parse_hashed) that belong to this log and are
        correctly signed, and why the others are not.

        Touches no storage, so it may run on any thread while the log is busy:
        sync parses each answer's records as they arrive and verifies them on
        other threads, where little but libsodium runs, then stores them all
        with ingest_verified.
        """
        return _verify_parsed(self.name, records)

    def ingest_verified(self, records: list[Record]) -> IngestReport:
        """Add records that verify() accepted: ingest() without checking them again.

        Known records are counted, and the rest go in only with all their
        parents, exactly as in ingest().
        """
        report = IngestReport()
        known = self.index.known(r.id for r in records)
        fresh: dict[str, Record] = {}
        for record in records:
            if record.id in known or record.id in fresh:
                report.known += 1
            else:
                fresh[record.id] = record
        report.added = self._add_sound(list(fresh.values()), report)
        return report

    def ingest_staged(self, records: list[StagedRecord]) -> StagedIngest:
        """ingest_verified() for verified records a pull staged (reconcile.pull_log): the
        same checks, on rows that need no parsing. Known records are counted and
        skipped; the others go in only with all their parents."""
        report = StagedIngest()
        known = self.index.known(r.id for r in records)
        fresh = [r for r in records if r.id not in known]
        report.known = len(records) - len(fresh)
        sound, waiting = self._causally_sound(fresh, report.rejected)
        report.waiting = len(waiting)
        self._store(sound, [r.row for r in sound])
        report.added = len(sound)
        return report

    def _add_sound(self, verified: list[Record], report: IngestReport) -> list[Record]:
        """Store and index those of `verified` that are causally sound; the ones added."""
        sound, waiting = self._causally_sound(verified, report.rejected)
        report.waiting += waiting
        self._store(sound, [index_row(r) for r in sound])
        return sound

    def _store(self, sound: list[Record] | list[StagedRecord], rows: list[tuple]) -> None:
        """Store the blocks of causally sound records, index their rows, move the heads."""
        if sound:
            self.store.put_hashed([(r.id, r.data) for r in sound])
            self.index.add_rows_batch(rows)
            self._move_heads(sound)

    def _fresh(self, blocks: Iterable[bytes], report: IngestReport) -> list[tuple[str, bytes]]:
        """(id, bytes) of the blocks not in the index yet, each once; the rest count as known."""
        datas = list(blocks)
        ids = [block_id(d) for d in datas]
        known = self.index.known(ids)
        fresh: dict[str, bytes] = {}
        for rid, data in zip(ids, datas):
            if rid in known or rid in fresh:
                report.known += 1
            else:
                fresh[rid] = data
        return list(fresh.items())

    def _check_all(self, fresh: list[tuple[str, bytes]], report: IngestReport) -> list[Record]:
        """The records among `fresh` that parse, belong to this log and are correctly signed.

        Each worker thread parses and verifies its own chunks. Parsing holds
        the GIL, but while one thread parses the other is inside libsodium
        (which releases it), so both cores stay busy. Parsing here in the
        calling thread instead starves the verifiers: a thread coming back
        from C waits for the parser's switch interval (5 ms) to get the GIL.
        """
        if len(fresh) <= SMALL_INGEST:  # not worth starting threads
            verified, rejected = check_records(self.name, fresh)
            report.rejected += rejected
            return verified
        from concurrent.futures import ThreadPoolExecutor

        # Several chunks per thread, so that no thread is left with a long
        # last chunk while the others have finished.
        size = max(1, min(VERIFY_BATCH, -(-len(fresh) // (4 * VERIFY_THREADS))))
        chunks = [fresh[start:start + size] for start in range(0, len(fresh), size)]
        verified = []
        with ThreadPoolExecutor(VERIFY_THREADS) as pool:
            for good, rejected in pool.map(check_records, [self.name] * len(chunks), chunks):
                verified += good
                report.rejected += rejected
        return verified

    def _causally_sound(self, records: list[L], rejected: list[Rejected]) -> tuple[list[L], list[L]]:
        """The records whose parents are all present and older, parents first; and those
        that wait for a parent. Why the others are refused goes to `rejected`.

        The fold orders records by (clock, id) and relies on a child sorting
        after its parents, so a record whose clock does not exceed a parent's
        is refused. Sorting by clock puts every sound parent before its children.
        """
        records = sorted(records, key=_clock_order)
        batch = {r.id for r in records}
        # Only parents from outside the batch can be in the log already: the
        # batch holds no known record. Mostly few: sync sends parents first.
        clocks = self.index.clocks({p for r in records for p in r.parents if p not in batch})
        sound, waiting = [], []
        for record in records:
            late, missing = _late_or_missing(record, clocks)
            if late is not None:
                rejected.append(Rejected(record.id, f"clock {record.clock} does not exceed parent {late}'s"))
            elif missing:
                waiting.append(record)
            elif (ahead := _clock_ahead(record, clocks)) is not None:
                rejected.append(Rejected(record.id, ahead))
            else:
                clocks[record.id] = record.clock
                sound.append(record)
        return sound, waiting

    def _move_heads(self, added: list[Linked]) -> None:
        def change(current: bytes | None) -> bytes:
            try:
                if current is None:
                    raise HeadsRefError("no heads ref")  # a new log, or one whose ref was lost
                before = self._indexed(read_heads(current))
            except HeadsRefError:
                # The index holds `added` already; they and their parents are sorted out below.
                before = self.index.heads_of(self.name)
            heads = set(before) | {r.id for r in added}
            # Parents always enter the log before their children, so a new
            # record has no children yet and only its parents stop being heads.
            heads -= {p for r in added for p in r.parents}
            return canonical.encode(sorted(heads))

        self.refs.update(self.heads_ref, change)


def index_row(record: Record) -> tuple:
    """The record as a row of the index: (digest, log, author, clock, time, parents, refs, payload)."""
    return (_digest(record.id), record.log, record.author, record.clock, record.time, " ".join(record.parents),
            " ".join(record.refs), _payload_text(record))


def _runs_ahead(record_id: str, clock: int, parent_clocks: list[int]) -> bool:
    return clock - max(parent_clocks, default=0) > MAX_CLOCK_STEP


def _clock_order(record: Linked) -> tuple[int, str]:
    return record.clock, record.id


def _late_or_missing(record: Linked, clocks: dict[str, int]) -> tuple[str | None, bool]:
    """The first parent whose clock is not below the record's (or None), and whether a parent is absent."""
    late, missing = None, False
    for parent in record.parents:
        clock = clocks.get(parent)
        if clock is None:
            missing = True
        elif clock >= record.clock and late is None:
            late = parent
    return late, missing


def _clock_ahead(record: Linked, clocks: dict[str, int]) -> str | None:
    """Why the record's clock runs too far ahead of its parents' (see MAX_CLOCK_STEP), or None."""
    base = max((clocks[p] for p in record.parents), default=0)
    if record.clock - base <= MAX_CLOCK_STEP:
        return None
    return f"clock {record.clock} runs more than {MAX_CLOCK_STEP} ahead of its parents' ({base})"


def _digest(record_id: str) -> bytes:
    return bytes.fromhex(record_id[len(PREFIX):])


def _id(digest: bytes) -> str:
    return PREFIX + digest.hex()


def _record_of(row) -> Record:
    """A Record from an index row (digest, log, author, clock, time, parents, refs, payload)."""
    digest, name, author, clock, stamp, parents, refs, payload = row
    return Record(_id(digest), name, author, clock, stamp, tuple(parents.split()), tuple(refs.split()),
                  json.loads(payload))


def _payload_text(record: Record) -> str:
    """The canonical text of a record's payload, cut from its bytes when it has them.

    Keys are sorted: "payload" follows "parents" (block ids) and precedes
    "refs"; nothing before it can spell ',"payload":' and nothing after it
    can spell ',"refs":[', so the slice is exactly encode(payload).
    """
    data = record.data
    if data is None:
        return canonical.reencode(record.payload).decode("utf-8")
    start = data.index(b',"payload":') + len(b',"payload":')
    return data[start:data.rindex(b',"refs":[')].decode("utf-8")


def check_records(log: str | None, chunk: list[tuple[str, bytes]]) -> tuple[list[Record], list[Rejected]]:
    """The (id, bytes) pairs of `chunk` that are good records of `log` (of any log when None),
    parsed and correctly signed; and why the rest are not. `id` must be the hash of the bytes."""
    parsed: list[Record] = []
    rejected: list[Rejected] = []
    for rid, data in chunk:
        try:
            parsed.append(parse_hashed(data, rid))  # rid is block_id(data): no second hash
        except RecordError as exc:
            rejected.append(Rejected(rid, str(exc)))
    verified, wrong = _verify_parsed(log, parsed)
    return verified, rejected + wrong


def _verify_parsed(log: str | None, records: list[Record]) -> tuple[list[Record], list[Rejected]]:
    """Those of `records` that are of `log` (any, when None) and correctly signed; and why the rest are not."""
    verified: list[Record] = []
    rejected: list[Rejected] = []
    for record in records:
        if log is not None and record.log != log:
            rejected.append(Rejected(record.id, f"record of log {record.log!r}, not {log!r}"))
        elif not verify_signature(record):
            rejected.append(Rejected(record.id, "bad signature"))
        else:
            verified.append(record)
    return verified, rejected


class HeadsRefError(ValueError):
    """A heads ref that is missing while it should not be, or does not hold a list of block ids."""


def read_heads(value: bytes | None) -> list[str]:
    """The ids in a heads ref's value; [] when there is no ref; HeadsRefError when it is damaged.

    A heads ref holds the canonical list of its heads' ids; "[]" for a log
    without records. Anything else (an empty file, bytes that are not a
    canonical document, a list of something else) is damage.
    """
    if value is None:
        return []
    if not value:
        raise HeadsRefError("the heads ref is empty")
    try:
        heads = canonical.decode(value)
    except canonical.CanonicalError as exc:
        raise HeadsRefError(f"the heads ref is not a canonical document ({exc})") from None
    if not isinstance(heads, list):
        raise HeadsRefError("the heads ref does not hold a list")
    for head in heads:
        if not is_block_id(head):
            raise HeadsRefError(f"the heads ref names {str(head)[:80]!r}, which is not a block id")
    return heads
