"""A pull's scratch space on disk: what has come, what to ask next, and the
verified records waiting to be stored.

A peer sends a log newest first, and a record can only be stored once its
parents are: nothing of a pull can be stored before its walk ends. Held in
Python, a pull cost ~2.5 KB per record until then (400,000 records: 828 MB).
Everything that grows with the pull lives here instead, in two private
sqlite databases, so a pull's memory is that of a few answers and one page
of records being stored, whatever its size:

- the walk's ledger (PullLedger), on the storage thread: the digest of every
  record that came (`received`: each is taken once), the ids never to ask for
  again (`given_up`: the peer lacks them, or answered with a block that is not
  a record), and the parents named by what came that are neither held,
  received nor given up (`wanted`: the next requests);
- the staged records (StagedRecords), written by the verifier threads as
  soon as a piece of an answer passed the checks that need no order (form,
  author trusted, signature): the row the index will hold and the bytes,
  keyed by (clock, id), the order they are stored in (parents first).

Each is sqlite's own temporary database (an empty file name): a file in
sqlite's temp directory (SQLITE_TMPDIR, TMPDIR, /var/tmp, ...) that is
unlinked as soon as it is opened. So it goes away when the pull ends, and
when the process dies half way: an interrupted pull leaves nothing behind,
and what it had stored already (whole pages of records, each with its
parents) stays stored.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from .hashing import PREFIX
from .log import StagedRecord, index_row

if TYPE_CHECKING:
    from .records import Record

Held = Callable[[list[str]], set[str]]   # which of these ids our log holds already
Position = tuple[int, str]               # (clock, id) of the last staged record read back

# Pages each database keeps in memory before sqlite writes them to its file.
# Both are written as the pull goes and read back once: a bigger cache buys
# little but memory.
CACHE_KIB = 8 * 1024
# Rows per statement. sqlite gives up the GIL at every step of a statement,
# and while other threads are busy, getting it back can take a switch
# interval (5 ms): one statement for many rows, not one per row.
ROWS_PER_STATEMENT = 256

_LEDGER = """
CREATE TABLE received (digest BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE given_up (digest BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE wanted (digest BLOB PRIMARY KEY, pass INTEGER NOT NULL) WITHOUT ROWID;
"""
# Kept in the order it is read back in: the peer sends newest first, so rows
# mostly go in at the low end of the b-tree, and reading them back is one
# sequential scan. Rows of ~1 KB want big pages.
STAGED_PAGE_SIZE = 65536
_STAGED = """
CREATE TABLE staged (digest BLOB NOT NULL, log TEXT NOT NULL, author BLOB NOT NULL, clock INTEGER NOT NULL,
                     time INTEGER NOT NULL, parents TEXT NOT NULL, refs TEXT NOT NULL, payload TEXT NOT NULL,
                     data BLOB NOT NULL, PRIMARY KEY (clock, digest)) WITHOUT ROWID;
"""


class PullLedger:
    """What a pull's walk has received, given up and wants next (see the module doc).

    Used on the storage thread only (LocalStore.call), like the log index,
    which it asks which parents are held already.
    """

    def __init__(self, held: Held):
        self._held = held
        self._db = _scratch_database(_LEDGER)
        self.received = 0   # distinct records that came
        self._pass = 0      # the walk's current pass: parents noted now are asked in the next one

    def close(self) -> None:
        self._db.close()

    def ask(self, ids: Iterable[str]) -> None:
        """Want these ids (the peer's heads we lack) in the walk's first pass."""
        _insert(self._db, "INSERT OR IGNORE INTO wanted VALUES", [(_digest(i), self._pass + 1) for i in ids])

    def next_pass(self) -> bool:
        """Start the next pass of the walk: whether anything is left to ask for.

        A pass asks for what was wanted when it began; the parents of what
        comes during it are asked in the next. An id the peer neither sent
        nor called missing is asked again in the next pass.
        """
        self._pass += 1
        return self._db.execute("SELECT 1 FROM wanted WHERE pass <= ? LIMIT 1", (self._pass,)).fetchone() is not None

    def frontier(self, after: str, limit: int) -> list[str]:
        """The next `limit` ids to ask for in this pass, by id, after `after` ("" to start)."""
        start = _digest(after) if after else b""
        rows = self._db.execute("SELECT digest FROM wanted WHERE pass <= ? AND digest > ? ORDER BY digest LIMIT ?",
                                (self._pass, start, limit))
        return [_id(digest) for (digest,) in rows]

    def take(self, records: list[Record], given_up: Iterable[str]) -> list[Record]:
        """Note one answer; the records new to this pull, each once.

        `given_up`: ids the peer says it lacks and blocks it sent that are not
        records: never asked for again. The parents of the new records that
        are neither held, received nor given up are wanted next pass.
        """
        digests = [_digest(r.id) for r in records]
        seen = _present(self._db, "received", digests)
        new: list[Record] = []
        fresh: dict[bytes, None] = {}
        for record, digest in zip(records, digests):
            if digest not in seen and digest not in fresh:
                fresh[digest] = None
                new.append(record)
        lost = {_digest(i) for i in given_up}
        # Most parents came in the same answer (the peer walks back through them).
        named = {_digest(p) for record in new for p in record.parents}
        named.difference_update(digests, lost)
        with _transaction(self._db):
            _insert(self._db, "INSERT INTO received VALUES", [(d,) for d in fresh])
            _insert(self._db, "INSERT OR IGNORE INTO given_up VALUES", [(d,) for d in lost])
            for chunk in _chunks([*fresh, *lost], ROWS_PER_STATEMENT):
                self._db.execute(f"DELETE FROM wanted WHERE digest IN ({_marks(len(chunk))})", chunk)
            if named:
                named -= _present(self._db, "received", named) | _present(self._db, "given_up", named)
                named -= {_digest(i) for i in self._held([_id(d) for d in named])}
                _insert(self._db, "INSERT OR IGNORE INTO wanted VALUES", [(d, self._pass + 1) for d in sorted(named)])
        self.received += len(fresh)
        return new


class StagedRecords:
    """A pull's verified records, kept on disk until the walk ends (see the module doc).

    `add` may be called from several threads at once (the verifier threads
    stage what they verified); `page` once the walk is over, from one.
    """

    def __init__(self) -> None:
        self._db = _scratch_database(_STAGED, page_size=STAGED_PAGE_SIZE)
        self._lock = threading.Lock()
        self.count = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, records: list[Record]) -> None:
        """Stage verified records, each taken once by the ledger."""
        rows = [(*index_row(r), r.data) for r in records]
        with self._lock, _transaction(self._db):
            _insert(self._db, "INSERT INTO staged VALUES", rows)
            self.count += len(rows)

    def page(self, after: Position | None, limit: int) -> list[StagedRecord]:
        """The next `limit` staged records in (clock, id) order, after `after` (None: from the first).

        Ids compare as their digests do (one prefix, lower-case hex), so this
        is the order ingest sorts by.
        """
        clock, digest = (after[0], _digest(after[1])) if after else (-1, b"")
        with self._lock:
            rows = self._db.execute(
                "SELECT digest, log, author, clock, time, parents, refs, payload, data FROM staged"
                " WHERE (clock, digest) > (?, ?) ORDER BY clock, digest LIMIT ?", (clock, digest, limit)).fetchall()
        return [StagedRecord(_id(row[0]), row[3], tuple(row[5].split()), row[:8], row[8]) for row in rows]


def _scratch_database(schema: str, page_size: int = 4096) -> sqlite3.Connection:
    """A private temporary database (see the module doc): no journal, no syncing."""
    # isolation_level=None: transactions are ours (_transaction); the default
    # would open one before every INSERT and leave it open.
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    # The page size first: sqlite turns a cache size in KiB into a number of
    # pages of the page size it has then, and keeps that number when the
    # page size changes. The other way round, 8 MiB of 4 KiB pages became
    # 128 MiB of 64 KiB pages, and the staged records lived in memory.
    db.executescript(f"PRAGMA page_size={page_size}; PRAGMA cache_size=-{CACHE_KIB};"
                     " PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + schema)
    return db


class _transaction:
    """BEGIN ... COMMIT (a rollback is never needed: on any error the pull ends and the
    database is thrown away)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, kind, *rest) -> None:
        if kind is None:
            self.db.execute("COMMIT")


def _insert(db: sqlite3.Connection, statement: str, rows: list[tuple]) -> None:
    """`statement` ("INSERT ... VALUES") for every row, ROWS_PER_STATEMENT rows at a time."""
    for chunk in _chunks(rows, ROWS_PER_STATEMENT):
        row_marks = f"({_marks(len(chunk[0]))})"
        db.execute(f"{statement} {','.join([row_marks] * len(chunk))}", [value for row in chunk for value in row])


def _present(db: sqlite3.Connection, table: str, digests: Iterable[bytes]) -> set[bytes]:
    """Those of `digests` that `table` holds."""
    found: set[bytes] = set()
    for chunk in _chunks(list(digests), ROWS_PER_STATEMENT):
        found.update(d for (d,) in db.execute(f"SELECT digest FROM {table} WHERE digest IN ({_marks(len(chunk))})",
                                              chunk))
    return found


def _marks(count: int) -> str:
    return ",".join("?" * count)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _digest(record_id: str) -> bytes:
    return bytes.fromhex(record_id[len(PREFIX):])


def _id(digest: bytes) -> str:
    return PREFIX + digest.hex()
