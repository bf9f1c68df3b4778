"""Opening the node's sqlite databases the same careful way everywhere, and
telling what went wrong with one in words a user can act on."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..fsutil import fsync_dir

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
            rollback(conn)
            raise
    finally:
        try:
            conn.execute(f"PRAGMA cache_size={int(previous)}")
        except sqlite3.Error:
            pass  # the error that brought us here (if any) is the one to report


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if sqlite has not done so itself.

    On some errors (a full disk, an I/O error) sqlite ends the transaction on
    its own; a ROLLBACK then fails with "cannot rollback - no transaction is
    active", and raising that would hide the error that matters.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


# sqlite's primary result codes that mean the file, not the request, is at fault.
_SQLITE_FULL = 13
_DAMAGED_CODES = {10: "I/O error", 11: "damaged", 26: "not a database"}  # IOERR, CORRUPT, NOTADB
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the quota, or the file size limit) is full."""
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == _SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS


def is_damage(exc: BaseException) -> bool:
    """Whether a sqlite error says the database file is damaged (rather than busy or misused)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGED_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text or "disk I/O error" in text


def describe_storage_error(exc: BaseException) -> str:
    """One line for a storage failure: "disk full (...)", "... damaged (...)", or the error itself."""
    if is_disk_full(exc):
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"disk full ({detail})"
    if is_damage(exc):
        return f"database damaged ({exc}); run 'fixme fsck --repair'"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc)


def integrity_problems(path: Path, quick: bool = False, limit: int = 100) -> list[str]:
    """What `PRAGMA integrity_check` (or the faster quick_check) says is wrong with the
    database at `path`; [] when it is sound or absent.

    Opens its own connection, without WAL or schema changes, so a damaged
    file is examined exactly as it is.
    """
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = [str(r[0]) for r in conn.execute(f"PRAGMA {'quick_check' if quick else 'integrity_check'}({limit})")]
    except sqlite3.Error as exc:
        return [str(exc)]
    finally:
        conn.close()
    return [] if rows == ["ok"] else rows


def database_files(path: Path) -> list[Path]:
    """The database and the files sqlite keeps beside it (WAL, shared memory, journal)."""
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def replace_database(live: Path, built: Path, keep_as: Path) -> None:
    """Put the database `built` (closed, no WAL left) in place of `live`, keeping `live`'s files as `keep_as*`.

    `live` is copied aside first, so its bytes are never lost. Then, when
    sqlite can still open it, `built` is copied into it with the backup API,
    under sqlite's own locks: a process that has `live` open (a running
    node) sees the new content, not a file renamed away under it. When
    `live` is beyond that (not a database, cut short), the files are
    renamed instead. `built` is gone afterwards.
    """
    keep_as.parent.mkdir(parents=True, exist_ok=True)
    for source in database_files(live):
        if source.exists():
            shutil.copyfile(source, keep_as.with_name(keep_as.name + source.name[len(live.name):]))
    fsync_dir(keep_as.parent)
    try:
        _copy_into(built, live)
    except sqlite3.Error:
        for leftover in database_files(live):
            leftover.unlink(missing_ok=True)  # copied aside above; a stale WAL must not meet the new file
        os.replace(built, live)
        fsync_dir(live.parent)
        return
    for leftover in database_files(built):
        leftover.unlink(missing_ok=True)


def _copy_into(source: Path, target: Path) -> None:
    """sqlite's online backup of `source` over `target`, which then holds exactly `source`'s rows."""
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(f"file:{target}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            src.backup(dst)
            # The backup API trusts the target's header; make sure what is there now reads back.
            check = [r[0] for r in dst.execute("PRAGMA quick_check")]
            if check != ["ok"]:
                raise sqlite3.DatabaseError(f"after the copy: {check[0]}")
        finally:
            dst.close()
    finally:
        src.close()
