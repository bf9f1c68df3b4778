"""The scan's memory between runs: `.fixme/cache/scan.sqlite3` (git-ignored).

SQLite so that a scan after a small change updates a few rows instead of
rewriting every entry, and so that two scans at once serialise on the
database lock instead of overwriting each other.

Tables:
  meta     key -> JSON value (schema, config fingerprint, HEAD, dirty paths)
  tree     path -> blob id at HEAD (regular files only)
  files    path -> the key it was parsed under, its line count, and its
           occurrences (raw entry, origin of the tag line, entry id)
  occ      entry id -> path, for every occurrence: who shares a slug
  blame    (blob, line) -> origin: an unchanged blob is never blamed twice
  entries  id -> status and the entry as JSON: every entry ever seen

Anything unreadable is thrown away and rebuilt by a full scan.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from collections.abc import Iterable

from .blame import Origin
from .entry import Entry
from .model import RawEntry

# Bumped when what is stored changes, or what a grammar finds in the same
# bytes: occurrences are cached by blob, so an old cache would keep old answers.
# Bump quickcheck.STATE_VERSION with it, or the quick check keeps vouching for
# the old cache after this one is wiped.
SCHEMA = 6
# `config` and `log` are the older fixme tool's, shared through git when a repository has them.
LOCAL_GITIGNORE = "# fixme's local state; only the config is shared.\n*\n!config\n!log\n"
_FIRST_LOCAL_GITIGNORE = "# fixme's local state; only the config is shared.\n*\n"  # hid them too

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tree (path TEXT PRIMARY KEY, blob TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, key TEXT NOT NULL, lines INTEGER NOT NULL,
                                  occurrences TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS occ (entry_id TEXT NOT NULL, path TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS occ_by_entry ON occ (entry_id);
CREATE INDEX IF NOT EXISTS occ_by_path ON occ (path);
CREATE TABLE IF NOT EXISTS blame (blob TEXT NOT NULL, line INTEGER NOT NULL, origin TEXT NOT NULL,
                                  PRIMARY KEY (blob, line));
CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, status TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status);
"""


def state_dir(root: Path) -> Path:
    return root / ".fixme"


def ensure_state_dir(root: Path) -> Path:
    """Create `.fixme/` so that git never sees its local state.

    An uninitialised repository gets a `.gitignore` that ignores everything
    (itself included) but the older fixme tool's files, so scanning leaves
    `git status` clean. One written by an earlier version, which ignored
    those too, is replaced: it ignores itself, so it is only ever ours.
    """
    directory = state_dir(root)
    directory.mkdir(exist_ok=True)
    ignore = directory / ".gitignore"
    try:
        current = ignore.read_bytes()
    except FileNotFoundError:
        current = None
    except OSError:
        return directory  # not ours to fix
    if current is None or current == _FIRST_LOCAL_GITIGNORE.encode():
        ignore.write_text(LOCAL_GITIGNORE)
    return directory


class StoredFile:
    """A scanned file as the store remembers it."""

    __slots__ = ("path", "key", "lines", "occurrences")

    def __init__(self, path: str, key: str, lines: int, occurrences: list):
        self.path = path
        self.key = key
        self.lines = lines
        self.occurrences = occurrences  # [(RawEntry, Origin, entry_id)]


class ScanStore:
    def __init__(self, root: Path):
        self.root = root
        self.path = state_dir(root) / "cache" / "scan.sqlite3"
        self._db: sqlite3.Connection | None = None

    # -- opening -----------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        ensure_state_dir(self.root)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError:
            self._discard()  # corrupt: start again, the scan rebuilds everything
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_TABLES)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or json.loads(row[0]) != SCHEMA:
                for table in ("meta", "tree", "files", "occ", "blame", "entries"):
                    db.execute(f"DELETE FROM {table}")
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (json.dumps(SCHEMA),))
        except BaseException:
            db.close()
            raise
        return db

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def begin(self) -> None:
        """Take the write lock now: a concurrent scan waits instead of racing."""
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db is not None and self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # -- meta ----------------------------------------------------------------
    def meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # -- tree ----------------------------------------------------------------
    def tree(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT path, blob FROM tree"))

    def tree_blobs(self, paths: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for path in paths:
            row = self.db.execute("SELECT blob FROM tree WHERE path=?", (path,)).fetchone()
            if row:
                found[path] = row[0]
        return found

    def replace_tree(self, tree: dict[str, str]) -> None:
        self.db.execute("DELETE FROM tree")
        self.db.executemany("INSERT INTO tree VALUES (?, ?)", tree.items())

    def update_tree(self, changes: dict[str, str | None]) -> None:
        for path, blob in changes.items():
            if blob is None:
                self.db.execute("DELETE FROM tree WHERE path=?", (path,))
            else:
                self.db.execute("INSERT OR REPLACE INTO tree VALUES (?, ?)", (path, blob))

    # -- files -----------------------------------------------------------------
    def file(self, path: str) -> StoredFile | None:
        row = self.db.execute("SELECT key, lines, occurrences FROM files WHERE path=?", (path,)).fetchone()
        if row is None:
            return None
        return StoredFile(path, row[0], row[1], _occurrences_from_json(row[2]))

    def file_keys(self, paths: Iterable[str] | None = None) -> dict[str, str]:
        """path -> key for the given paths (all stored files when None)."""
        if paths is None:
            return dict(self.db.execute("SELECT path, key FROM files"))
        keys: dict[str, str] = {}
        for path in paths:
            row = self.db.execute("SELECT key FROM files WHERE path=?", (path,)).fetchone()
            if row:
                keys[path] = row[0]
        return keys

    def file_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    def put_file(self, stored: StoredFile) -> None:
        self.db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                        (stored.path, stored.key, stored.lines, _occurrences_to_json(stored.occurrences)))
        self.db.execute("DELETE FROM occ WHERE path=?", (stored.path,))
        self.db.executemany("INSERT INTO occ VALUES (?, ?)",
                            {(entry_id, stored.path) for _, _, entry_id in stored.occurrences})

    def unblamed_paths(self) -> list[str]:
        """Files with a tag line git could not blame when they were scanned."""
        rows = self.db.execute("SELECT path, occurrences FROM files")
        return [path for path, text in rows
                if any(origin.unblamed for _, origin, _ in _occurrences_from_json(text))]

    def delete_file(self, path: str) -> None:
        self.db.execute("DELETE FROM files WHERE path=?", (path,))
        self.db.execute("DELETE FROM occ WHERE path=?", (path,))

    def clear_files(self) -> None:
        self.db.execute("DELETE FROM files")
        self.db.execute("DELETE FROM occ")

    def paths_of(self, entry_ids: Iterable[str]) -> set[str]:
        paths: set[str] = set()
        for entry_id in entry_ids:
            paths.update(p for (p,) in self.db.execute("SELECT path FROM occ WHERE entry_id=?", (entry_id,)))
        return paths

    # -- blame -----------------------------------------------------------------
    def blame(self, blob: str, lines: Iterable[int]) -> dict[int, Origin]:
        found: dict[int, Origin] = {}
        for n in lines:
            row = self.db.execute("SELECT origin FROM blame WHERE blob=? AND line=?", (blob, n)).fetchone()
            if row:
                found[n] = Origin(*json.loads(row[0]))
        return found

    def put_blame(self, blob: str, origins: dict[int, Origin]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO blame VALUES (?, ?, ?)",
                            [(blob, n, json.dumps(_origin_list(o))) for n, o in origins.items() if o.commit])

    def clear_blame(self) -> None:
        self.db.execute("DELETE FROM blame")

    def prune_blame(self, blobs: Iterable[str] | None = None) -> None:
        """Forget blobs no longer at HEAD (only `blobs`, when given); the cache follows the tree."""
        if blobs is None:
            self.db.execute("DELETE FROM blame WHERE blob NOT IN (SELECT blob FROM tree)")
            return
        for blob in set(blobs):
            self.db.execute("DELETE FROM blame WHERE blob=? AND NOT EXISTS (SELECT 1 FROM tree WHERE blob=?)",
                            (blob, blob))

    # -- entries ---------------------------------------------------------------
    def entries(self) -> list[Entry]:
        return [Entry.from_dict(json.loads(data)) for (data,) in self.db.execute("SELECT data FROM entries")]

    def entry(self, entry_id: str) -> Entry | None:
        row = self.db.execute("SELECT data FROM entries WHERE id=?", (entry_id,)).fetchone()
        return None if row is None else Entry.from_dict(json.loads(row[0]))

    def put_entry(self, entry: Entry) -> None:
        self.db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
                        (entry.id, entry.status, json.dumps(entry.to_dict(), ensure_ascii=False)))

    def delete_entry(self, entry_id: str) -> None:
        self.db.execute("DELETE FROM entries WHERE id=?", (entry_id,))

    def open_entry_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM entries WHERE status='open'").fetchone()[0]

    def is_open(self, entry_id: str) -> bool:
        row = self.db.execute("SELECT status FROM entries WHERE id=?", (entry_id,)).fetchone()
        return row is not None and row[0] == "open"


def _origin_list(o: Origin) -> list:
    return [o.commit, o.author, o.email, o.time, o.tz, o.path, o.unblamed]


_RAW_OPTIONAL = ("body", "column", "who", "slug", "devlog_date", "done", "warnings", "issue", "directives")


def raw_to_dict(raw: RawEntry) -> dict:
    """Only the fields that differ from their defaults, to keep rows small."""
    data = {"tag": raw.tag, "title": raw.title, "line": raw.line, "source": raw.source}
    for name in _RAW_OPTIONAL:
        value = getattr(raw, name)
        if value:
            data[name] = value
    return data


def _occurrences_to_json(occurrences: list) -> str:
    return json.dumps([[raw_to_dict(raw), _origin_list(origin), entry_id] for raw, origin, entry_id in occurrences],
                      ensure_ascii=False)


def _occurrences_from_json(text: str) -> list:
    return [(RawEntry(**raw), Origin(*origin), entry_id) for raw, origin, entry_id in json.loads(text)]
