"""Opening the node's sqlite databases the same careful way everywhere."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

BUSY_TIMEOUT_S = 60.0
# Page cache for a batch write; see write_batch.
BATCH_CACHE_KIB = 32 * 1024


def connect_wal(path: Path, schema: str, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection in WAL mode, synchronous=FULL, with `schema` (idempotent SQL) applied.

    Switching to WAL needs an exclusive lock and sqlite's busy handler is not
    consulted for it, so two processes opening a new database at once may see
    "locked": retry until the timeout.
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(schema)
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        # FULL, not NORMAL: with NORMAL a commit in WAL mode may be lost on
        # power failure, and a ref (an fsynced file) written afterwards could
        # then name a block or record that is gone. It costs one fsync per
        # transaction, which batch writes spread over the whole batch.
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to a WAL database, even where its directory cannot be written.

    Reading a WAL database needs its `-shm` file, which SQLite cannot make in
    a read-only directory; there the file is opened as immutable instead,
    which is safe because no other process can write it there either.
    """
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False)


@contextmanager
def write_batch(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error) with room for a batch.

    BEGIN IMMEDIATE takes the write lock up front, so a second writer waits
    in busy_timeout instead of failing on upgrade. A batch of thousands of
    rows dirties more pages than sqlite's default cache (2 MB) holds, and
    sqlite then spills pages to the WAL before the commit and writes some
    of them again at it: a 32 MB cache for the transaction saved ~1.5 us
    of the ~13 us that storing and indexing a record cost. The cache
    shrinks back afterwards, so readers (fixme list) keep sqlite's default.
    """
    previous = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size=-{BATCH_CACHE_KIB}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute(f"PRAGMA cache_size={int(previous)}")
