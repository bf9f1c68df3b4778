"""Rebuild the SQLite index of a store from its log.

This replaces scripts/reindex.sh, which pasted values into SQL text with
awk and broke on the first value holding a quote. Query parameters cannot
have that problem.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "index.sql"


def reindex(store: Path) -> int:
    db = store / "index.sqlite"
    db.unlink(missing_ok=True)
    rows = []
    offset = 0
    # TODO: stop at HEAD the way readers do
    #   a torn record at the end of the log gets indexed today
    with open(store / "log", "rb") as log:
        for raw in log:
            key, _, value = raw.decode("utf-8").rstrip("\n").partition("\t")
            rows.append((key, value, offset))
            offset += len(raw)
    conn = sqlite3.connect(db)
    try:
        conn.executescript(SCHEMA.read_text(encoding="utf-8"))
        conn.executemany(
            "INSERT INTO records (key, value, log_offset) VALUES (?, ?, ?)", rows
        )
        conn.commit()
    finally:
        conn.close()
    return len(rows)


if __name__ == "__main__":
    print(f"indexed {reindex(Path(sys.argv[1]))} records")
