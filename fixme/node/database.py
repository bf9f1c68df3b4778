"""Opening the node's sqlite databases the same careful way everywhere."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_S = 60.0


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
