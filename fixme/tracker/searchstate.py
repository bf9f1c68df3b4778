"""What the search index was built from, and what changed since. No whoosh here.

The index (search.py) catches up before every search. Finding out *what* to
rewrite has to cost next to nothing when nothing changed, and little for one
change among 20k entries. Comparing every entry with the index would not do:
loading and folding 20k entries takes ~0.4 s, twice the budget of a one-change
update. So the index remembers two marks, and what lies beyond them is the
journal of changed entries, kept for free by the stores that writers already
use:

* Scans: the scan store rewrites an entry with INSERT OR REPLACE, and SQLite
  gives every inserted row a rowid one above the largest in the table (the
  new rowid is chosen before the replaced row is deleted). So the rows with a
  rowid above the mark are exactly the entries scans have (re)written since
  the index last caught up.
* Records: the record log numbers records in arrival order (`seq`), whether
  they were written here or came by sync. Records above the mark name the
  entries whose folded state may have changed.

Writers (scan, set-workflow, sync, hooks) therefore do nothing for the index:
they stay as fast as they were and never import whoosh.

A mark is only meaningful while its store lives on. A scan store that was
reset (schema upgrade, corrupt file, cache deleted, `scan --full`) starts
its rowids again, and draws a new `generation` (store.py), which no longer
matches the one the index was built from. A record log that was reset no
longer holds the record at the mark. Either way, and whenever the index
schema or the settings that shape its documents change, the index is
rebuilt. The index never writes to the scan store: reading it leaves the
file the scan's quick check vouches for as it was.

The index is a cache too. state.json records the size and time of every
file of the live index; a file missing, cut short or rewritten by anything
but fixme no longer matches, and the index is rebuilt rather than read.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import Config
from ..scan.entry import Entry

INDEX_DIR = "index"  # under .fixme/
STATE_FILE = "state.json"
LOCK_FILE = "lock"
# Bump when the fields, their analysis or what a document holds change: the
# index is then rebuilt rather than mixing documents of two kinds.
INDEX_SCHEMA = 2


@dataclass
class Marks:
    """How far the index has read the scan store and the record log."""

    entries: int = 0  # highest rowid of the scan store's `entries` table indexed
    record_seq: int = 0  # seq of the last record folded in (0: none)
    record_id: str | None = None  # its id: another record at that seq means the log was reset


@dataclass
class IndexState:
    """`.fixme/index/state.json`: which whoosh index is live and what it reflects."""

    name: str  # whoosh index name of the live index (a rebuild writes a new one beside it)
    schema: int  # INDEX_SCHEMA it was built with
    config: str  # config_stamp() it was built with
    store_generation: str  # the scan store's generation it follows
    marks: Marks
    # Shortest id prefix that keeps every entry distinct, kept so a search can
    # shorten its hits' ids without reading all ids (20 ms at 20k entries).
    id_prefix: int = 1
    files: dict[str, list[int]] = field(default_factory=dict)  # index_files() after the last write


@dataclass
class Changes:
    """What changed beyond the marks: entries to re-index, and the marks after them."""

    entries: list[Entry]
    marks: Marks


def index_dir(root: Path) -> Path:
    return root / ".fixme" / INDEX_DIR


def read_state(root: Path) -> IndexState | None:
    """The index's state, or None when there is none (or it is unreadable: rebuild)."""
    try:
        data = json.loads((index_dir(root) / STATE_FILE).read_bytes())
        data["marks"] = Marks(**data["marks"])
        return IndexState(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_state(root: Path, state: IndexState) -> None:
    from ..fsutil import atomic_write_json

    atomic_write_json(index_dir(root) / STATE_FILE, asdict(state))


def index_files(root: Path, name: str) -> dict[str, list[int]]:
    """file name -> (size, mtime) of each file of the whoosh index `name` (not its write lock)."""
    directory = index_dir(root)
    files = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return {}
    for file_name in names:
        if file_name.startswith((name + "_", "_" + name + "_")) and not file_name.endswith("_WRITELOCK"):
            try:
                st = os.stat(directory / file_name)
            except OSError:
                continue
            files[file_name] = [st.st_size, st.st_mtime_ns]
    return files


def config_stamp(config: Config) -> str:
    """A hash of the settings that shape indexed documents.

    The scan settings (they decide what entries are), and everything the fold
    reads: states, attributes and their values, the trust list. Network
    settings and display width do not count.
    """
    from hashlib import sha256

    shaping = {"scan": config.fingerprint(), "states": config.states, "initial": config.initial_state,
               "attributes": config.attributes, "values": config.attribute_values,
               "trusted": sorted(t.key for t in config.trusted)}
    return sha256(json.dumps(shaping, sort_keys=True, default=list).encode()).hexdigest()[:16]


class IndexSource:
    """The entries the index is built from, read fresh from the scan store and the record log.

    `store` is the scan's result to read (Tracker passes it; an unsaved
    scan's is in memory); without one the cache is opened read-only.
    """

    def __init__(self, root: Path, config: Config, store=None):
        self.root = root
        self.config = config
        self._store = store
        self._owns_store = store is None

    def close(self) -> None:
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None

    @property
    def store(self):
        if self._store is None:
            from ..scan.store import ScanStore

            self._store = ScanStore.for_reading(self.root)
        return self._store

    # -- generation and marks ------------------------------------------------
    def store_generation(self) -> str | None:
        return self.store.meta("generation")

    def current_marks(self) -> Marks:
        """The marks as they are now: taken *before* reading everything for a rebuild,
        so a change that lands meanwhile is read again next time, never missed."""
        row = self.store.db.execute("SELECT max(rowid) FROM entries").fetchone()
        last = None
        for last in self._records_after(0):
            pass
        seq, record_id = (last[0], last[1]) if last else (0, None)
        return Marks(row[0] or 0, seq, record_id)

    def changes_since(self, marks: Marks) -> Changes | None:
        """The entries changed beyond `marks`, folded; None when the record log was reset."""
        rows = self.store.db.execute("SELECT rowid, data FROM entries WHERE rowid > ? ORDER BY rowid",
                                     (marks.entries,)).fetchall()
        records = self._records_after(max(marks.record_seq - 1, 0))
        if marks.record_seq:
            if not records or records[0][:2] != (marks.record_seq, marks.record_id):
                return None
            records = records[1:]
        entries = {}
        for _, data in rows:
            entry = Entry.from_dict(json.loads(data))
            entries[entry.id] = entry
        for _, _, entry_id in records:
            if entry_id is not None and entry_id not in entries:
                entry = self.store.entry(entry_id)  # None: a record about an entry not scanned (yet)
                if entry is not None:
                    entries[entry.id] = entry
        new_marks = Marks(rows[-1][0] if rows else marks.entries,
                          records[-1][0] if records else marks.record_seq,
                          records[-1][1] if records else marks.record_id)
        return Changes(self.fold(list(entries.values())), new_marks)

    def _records_after(self, seq: int) -> list[tuple[int, str, str | None]]:
        """(seq, record id, entry id it is about) for the tracker's records after `seq`."""
        from .changes import INDEX_FILE, node_dir, read_index

        directory = node_dir(self.root)
        if not (directory / INDEX_FILE).exists() and not (directory / "blocks").exists():
            return []  # nobody wrote or synced a record: opening would create the database
        from .workflow import LOG_NAME

        def read(index) -> list[tuple[int, str, str | None]]:
            return [(n, record.id, _entry_of(record.payload)) for n, record in index.records(LOG_NAME, seq)]

        return read_index(self.root, read) or []

    # -- entries -----------------------------------------------------------
    def id_prefix(self) -> int:
        """The shortest prefix length keeping every id the scan store knows distinct."""
        from ..scan.identity import short_length

        return short_length([entry_id for (entry_id,) in self.store.db.execute("SELECT id FROM entries")], 1)

    def all_entries(self) -> list[Entry]:
        return self.fold(self.store.entries())

    def entries(self, ids: list[str]) -> dict[str, Entry]:
        """The entries with these ids as the scan store holds them (not folded)."""
        found = {}
        for entry_id in ids:
            entry = self.store.entry(entry_id)
            if entry is not None:
                found[entry_id] = entry
        return found

    def fold(self, entries: list[Entry]) -> list[Entry]:
        """Apply the records to `entries` (workflow, attributes), as `list` shows them.

        The log is read afresh each time, after the marks were taken, so that
        no record within the marks is missed.
        """
        if entries:
            from .fold import apply_latest
            from .folded import folded_state

            apply_latest(entries, folded_state(self.root, self.config), self.config)
        return entries


def _entry_of(payload) -> str | None:
    """The entry a record's payload is about (every tracker record names one)."""
    entry = payload.get("entry") if isinstance(payload, dict) else None
    return entry if isinstance(entry, str) else None
