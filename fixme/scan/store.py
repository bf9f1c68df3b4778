"""The scan's memory between runs: `.fixme/cache/scan.sqlite3` (git-ignored).

SQLite so that a scan after a small change updates a few rows instead of
rewriting every entry, and so that two scans at once serialise on the
database lock instead of overwriting each other.

Tables:
  meta     key -> JSON value (schema, generation, config fingerprint, HEAD, dirty paths)
  tree     path -> blob id at HEAD (regular files only)
  files    path -> the key it was parsed under, its line count, and its
           occurrences (raw entry, origin of the tag line, entry id)
  occ      entry id -> path, for every occurrence: who shares a slug
  blame    (blob, line) -> origin: an unchanged blob is never blamed twice
  entries  id -> status and the entry as JSON: every entry this clone has seen

It is a cache. A file that is not a store of this schema (garbage, cut
short, another program's database, tables missing) is StoreDamaged; the
scanner then starts it again from nothing. `generation` is a random token
drawn whenever the store starts from nothing: whatever follows the store by
its row ids (the search index) knows by it that the rows began again.
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
CACHE_DIR = "cache"  # under .fixme/
STORE_FILE = "scan.sqlite3"
LOCK_FILE = "scan.lock"  # held by a scan from checking the store until state.json is written
LOCK_TIMEOUT = 60.0  # seconds a scan waits for another one (a cold scan of a large repository: ~20 s)
# `config` and `log` are the older fixme tool's, shared through git when a repository has them.
LOCAL_GITIGNORE = "# fixme's local state; only the config is shared.\n*\n!config\n!log\n"
_FIRST_LOCAL_GITIGNORE = "# fixme's local state; only the config is shared.\n*\n"  # hid them too

_TABLES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE tree (path TEXT PRIMARY KEY, blob TEXT NOT NULL)",
    "CREATE TABLE files (path TEXT PRIMARY KEY, key TEXT NOT NULL, lines INTEGER NOT NULL, "
    "occurrences TEXT NOT NULL)",
    "CREATE TABLE occ (entry_id TEXT NOT NULL, path TEXT NOT NULL)",
    "CREATE INDEX occ_by_entry ON occ (entry_id)",
    "CREATE INDEX occ_by_path ON occ (path)",
    "CREATE TABLE blame (blob TEXT NOT NULL, line INTEGER NOT NULL, origin TEXT NOT NULL, PRIMARY KEY (blob, line))",
    "CREATE TABLE entries (id TEXT PRIMARY KEY, status TEXT NOT NULL, data TEXT NOT NULL)",
    "CREATE INDEX entries_by_status ON entries (status)",
)
_DATA_TABLES = ("meta", "tree", "files", "occ", "blame", "entries")

# SQLite's primary result codes (the low byte of sqlite_errorcode) that mean
# the file is not a database we can read, and those that mean it cannot be
# written here (read-only file or directory, no room, cannot create the journal).
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_UNWRITABLE_CODES = frozenset({3, 8, 10, 13, 14})  # PERM, READONLY, IOERR, FULL, CANTOPEN


class StoreDamaged(Exception):
    """The cache is missing, or is not a scan store this version can read: start it again."""


class StoreUnwritable(Exception):
    """The cache cannot be written here: a read-only directory or file system, a full disk."""

    def __init__(self, directory: Path, reason: str):
        super().__init__(f"cannot write the scan cache in {directory}: {reason}")
        self.directory = directory
        self.reason = reason


def state_dir(root: Path) -> Path:
    return root / ".fixme"


def cache_dir(root: Path) -> Path:
    return state_dir(root) / CACHE_DIR


def store_path(root: Path) -> Path:
    return cache_dir(root) / STORE_FILE


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


def ensure_cache_dir(root: Path) -> Path:
    """`.fixme/cache/`, made if need be; StoreUnwritable when it cannot be."""
    directory = cache_dir(root)
    try:
        ensure_state_dir(root)
        directory.mkdir(exist_ok=True)
    except OSError as exc:
        raise StoreUnwritable(directory, exc.strerror or str(exc)) from None
    return directory


def ensure_writable_cache_dir(root: Path) -> Path:
    """ensure_cache_dir, and files can be made in it: StoreUnwritable before anything is changed.

    A directory that cannot be written may still hold writable files (`chmod
    -w .fixme/cache`): SQLite would then update the store in place, and only
    state.json, replaced through a new file, would fail, leaving a store
    that no state vouches for. Asking first keeps the store as it was.
    """
    from ..fsutil import unwritable_reason

    directory = ensure_cache_dir(root)
    reason = unwritable_reason(directory, with_data=False)
    if reason is not None:
        raise StoreUnwritable(directory, reason)
    return directory


def store_error(exc: sqlite3.Error, root: Path) -> Exception:
    """What an sqlite error means for the cache: StoreDamaged, StoreUnwritable, or itself."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in _DAMAGE_CODES:
        return StoreDamaged(str(exc))
    if code in _UNWRITABLE_CODES:
        from ..fsutil import unwritable_reason

        return StoreUnwritable(cache_dir(root), unwritable_reason(cache_dir(root)) or str(exc))
    return exc


def _expected_layout() -> set[tuple]:
    """The schema objects (type, name, table, sql) a store of this version holds, as SQLite records them."""
    global _LAYOUT
    if _LAYOUT is None:
        db = sqlite3.connect(":memory:")
        for statement in _TABLES:
            db.execute(statement)
        _LAYOUT = _layout(db)
        db.close()
    return _LAYOUT


def _layout(db: sqlite3.Connection) -> set[tuple]:
    """The schema objects of `db`, but SQLite's own (automatic indexes follow from the tables,
    and sqlite_sequence could not be dropped from a foreign database anyway)."""
    return set(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                          "WHERE substr(name, 1, 7) != 'sqlite_'"))


_LAYOUT: set[tuple] | None = None


def layout_problem(db: sqlite3.Connection) -> str | None:
    """Why `db` is not a store of this schema (tables, columns, schema number, generation); None if it is."""
    if _layout(db) != _expected_layout():
        return "not a scan store of this version (tables differ)"
    rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('schema', 'generation')"))
    if rows.get("schema") != json.dumps(SCHEMA):
        return f"scan store schema {rows.get('schema')}, not {SCHEMA}"
    if "generation" not in rows:
        return "scan store without a generation"
    return None


class StoredFile:
    """A scanned file as the store remembers it."""

    __slots__ = ("path", "key", "lines", "occurrences")

    def __init__(self, path: str, key: str, lines: int, occurrences: list):
        self.path = path
        self.key = key
        self.lines = lines
        self.occurrences = occurrences  # [(RawEntry, Origin, entry_id)]


class ScanStore:
    """The store on disk (opened for writing when first used), or one of the other kinds below."""

    def __init__(self, root: Path, db: sqlite3.Connection | None = None, in_memory: bool = False):
        self.root = root
        self.path = store_path(root)
        self._db = db
        self.in_memory = in_memory  # a scan that could not be saved: never written to disk

    @classmethod
    def for_reading(cls, root: Path) -> "ScanStore":
        """The store as the last scan left it, opened read-only; StoreDamaged if missing or unreadable.

        Read-only so that a reader never changes the file the quick check
        vouches for, and can read a cache in a directory it cannot write.
        """
        path = store_path(root)
        if not path.is_file():
            raise StoreDamaged(f"{path} is missing")
        try:
            db = _connect_read_only(path)
        except sqlite3.Error as exc:
            raise StoreDamaged(str(exc)) from None
        try:
            problem = layout_problem(db)
        except sqlite3.Error as exc:
            problem = str(exc)
        if problem is not None:
            db.close()
            raise StoreDamaged(problem)
        return cls(root, db)

    @classmethod
    def in_memory_copy(cls, root: Path, seed: "ScanStore | None") -> "ScanStore":
        """A store in memory for a scan that cannot be saved: a copy of `seed`, or empty."""
        # Any thread: the dashboard scans in one worker thread and reads in others.
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if seed is not None:
            seed.db.backup(db)
        else:
            _create_layout(db)
        return cls(root, db, in_memory=True)

    # -- opening -----------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        """The store for writing; a damaged file is thrown away and started again."""
        ensure_cache_dir(self.root)
        try:
            try:
                return self._connect()
            except sqlite3.DatabaseError as exc:
                if not isinstance(store_error(exc, self.root), StoreDamaged):
                    raise
            self.discard()  # garbage, cut short, not a database: the scan rebuilds everything
            return self._connect()
        except sqlite3.Error as exc:
            raise store_error(exc, self.root) from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if layout_problem(db) is not None:
                _recreate_layout(db)
        except BaseException:
            db.close()
            raise
        return db

    def discard(self) -> None:
        """Delete the store's files (StoreUnwritable if that is not allowed here)."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StoreUnwritable(self.path.parent, exc.strerror or str(exc)) from None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def checkpoint(self) -> bool:
        """Move everything committed into the main file and empty the WAL; False if a reader kept it.

        After this (and close) the main file stays as it is until the next
        write, so its size and time can stand for its content (quickcheck).
        """
        busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    def begin(self) -> None:
        """Take the write lock now: a concurrent scan waits instead of racing."""
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db is not None and self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def reset(self) -> None:
        """Forget everything (in the current transaction): the next update scans from nothing."""
        for table in _DATA_TABLES:
            self.db.execute(f"DELETE FROM {table}")
        _stamp_new_generation(self.db)

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
        """The files where any of the entries occurs."""
        return {path for chunk in _chunks(entry_ids)
                for (path,) in self.db.execute(f"SELECT path FROM occ WHERE entry_id IN ({_marks(chunk)})", chunk)}

    def files(self, paths: Iterable[str]) -> list[StoredFile]:
        """The stored files among `paths`."""
        found = []
        for chunk in _chunks(paths):
            rows = self.db.execute(f"SELECT path, key, lines, occurrences FROM files WHERE path IN ({_marks(chunk)})",
                                   chunk)
            found += [StoredFile(path, key, lines, _occurrences_from_json(text)) for path, key, lines, text in rows]
        return found

    # -- blame -----------------------------------------------------------------
    def blame(self, blob: str, lines: Iterable[int]) -> dict[int, Origin]:
        wanted = set(lines)
        rows = self.db.execute("SELECT line, origin FROM blame WHERE blob=?", (blob,))
        return {n: Origin(*json.loads(origin)) for n, origin in rows if n in wanted}

    def put_blame(self, blob: str, origins: dict[int, Origin]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO blame VALUES (?, ?, ?)",
                            [(blob, n, json.dumps(_origin_list(o))) for n, o in origins.items() if o.commit])

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
        try:
            return [Entry.from_dict(json.loads(data)) for (data,) in self.db.execute("SELECT data FROM entries")]
        except (ValueError, TypeError, KeyError) as exc:  # rows no scan wrote
            raise StoreDamaged(f"an unreadable entry in {self.path}: {exc}") from None

    def entry_ids(self) -> set[str]:
        return {entry_id for (entry_id,) in self.db.execute("SELECT id FROM entries")}

    def delete_entry(self, entry_id: str) -> None:
        self.db.execute("DELETE FROM entries WHERE id=?", (entry_id,))

    def entry(self, entry_id: str) -> Entry | None:
        row = self.db.execute("SELECT data FROM entries WHERE id=?", (entry_id,)).fetchone()
        return None if row is None else Entry.from_dict(json.loads(row[0]))

    def entries_by_id(self, entry_ids: Iterable[str]) -> dict[str, Entry]:
        """The stored entries among `entry_ids`."""
        return {entry_id: Entry.from_dict(json.loads(data)) for chunk in _chunks(entry_ids)
                for entry_id, data in self.db.execute(f"SELECT id, data FROM entries WHERE id IN ({_marks(chunk)})",
                                                       chunk)}

    def entries_named(self, slug: str, id_prefix: str | None) -> list[Entry]:
        """The entries whose slug is `slug` or whose id starts with `id_prefix`: what a
        reference can pick, without reading every entry (set-workflow at 10k entries)."""
        found: dict[str, Entry] = {}
        if id_prefix:
            rows = self.db.execute("SELECT data FROM entries WHERE id >= ? AND id < ?", (id_prefix, id_prefix + "~"))
            for (data,) in rows:
                entry = Entry.from_dict(json.loads(data))
                found[entry.id] = entry
        # The row's JSON holds the slug as json.dumps writes it: a cheap superset, checked after.
        for (data,) in self.db.execute("SELECT data FROM entries WHERE instr(data, ?) > 0",
                                       (json.dumps(slug, ensure_ascii=False),)):
            entry = Entry.from_dict(json.loads(data))
            if entry.slug == slug:
                found[entry.id] = entry
        return list(found.values())

    def put_entry(self, entry: Entry) -> None:
        self.put_entries([entry])

    def put_entries(self, entries: Iterable[Entry]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
                            [(e.id, e.status, json.dumps(e.to_dict(), ensure_ascii=False)) for e in entries])

    def open_entry_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM entries WHERE status='open'").fetchone()[0]

    def is_open(self, entry_id: str) -> bool:
        row = self.db.execute("SELECT status FROM entries WHERE id=?", (entry_id,)).fetchone()
        return row is not None and row[0] == "open"


def _chunks(items: Iterable[str], size: int = 500) -> Iterable[list[str]]:
    """`items` in lists small enough for one query's bound parameters."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _marks(chunk: list) -> str:
    return ",".join("?" * len(chunk))


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


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; `immutable` where not even WAL's shared-memory file can be made.

    A WAL database is read through a `-shm` file beside it, which a
    read-only directory does not let SQLite create; then the file is read
    as immutable, which is safe there: nobody can write it either.
    """
    uri = path.resolve().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True)
    try:
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return db
    except sqlite3.OperationalError as exc:
        db.close()
        if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF not in _UNWRITABLE_CODES:
            raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)


def _create_layout(db: sqlite3.Connection) -> None:
    for statement in _TABLES:
        db.execute(statement)
    _stamp_new_generation(db)


def _recreate_layout(db: sqlite3.Connection) -> None:
    """Drop whatever the file holds and create this version's tables, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        objects = db.execute("SELECT type, name FROM sqlite_master WHERE substr(name, 1, 7) != 'sqlite_'").fetchall()
        for kind, name in objects:
            if kind in ("table", "view"):
                db.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
        _create_layout(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _stamp_new_generation(db: sqlite3.Connection) -> None:
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (json.dumps(SCHEMA),))
    db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (json.dumps(os.urandom(8).hex()),))
