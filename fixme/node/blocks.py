"""Content-addressed block store: bytes in, `sha256:` id out.

Layout under one directory `root`:

    root/blocks.db                       small blocks (<= SMALL_BLOCK_MAX bytes), sqlite, WAL:
                                         table blocks(digest BLOB PRIMARY KEY, data BLOB NOT NULL),
                                         digest = the 32 raw bytes of the SHA-256
    root/objects/sha256/ab/<62 hex>      large blocks (blob chunks), one read-only file each
    root/objects/sha256/ab/.tmp-*        a write in progress (or left by a crash): never a block
    root/quarantine/                     bad blocks moved aside by fsck --repair, with a .reason file

Why two places: one file per small block costs 50-200 µs to create durably
on this hardware, more than verifying a record's signature, and record logs
hold many thousands of ~300-byte blocks; sqlite commits a whole batch with
one fsync. Blob chunks (1 MiB) are big enough that a file each is cheap
relative to the data, and keep the database small.

Why raw digests as keys: inserts of random keys dirty one index page each,
and every dirtied page is written to the WAL; a 32-byte key instead of the
71-character text id makes the index half the size, and ingest of 100k
records measured ~40% faster.

Crash safety: a small block is visible only once its sqlite transaction has
committed. A large block is written to a temp file in its final directory,
fsynced, then renamed to its real name, and the directory fsynced; a crash at
any point leaves a temp file (ignored by `ids()`, reported by fsck when
stale) and never a partial block under a real name. Two processes writing
the same block both succeed: sqlite serialises writers (busy_timeout) and
`INSERT OR IGNORE` makes the second a no-op; for files each writer renames
its own temp over the same name, and both temps hold the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from ..fsutil import atomic_write_bytes, fsync_dir, write_all
from .database import (BUSY_TIMEOUT_S, connect_wal, database_files, integrity_problems, replace_database, rollback,
                       write_batch)
from .hashing import PREFIX, block_id, check_block_id, is_block_id
from .salvage import Unreadable, readable_rows

SMALL_BLOCK_MAX = 64 * 1024

TEMP_PREFIX = ".tmp-"  # loose temp files; a real block's name is 62 hex digits, so never confused
_LOOSE_NAME_LENGTH = 62
_SCHEMA = "CREATE TABLE IF NOT EXISTS blocks (digest BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL)"
_PAGE = 512  # rows per query when walking the database, so no statement stays open between pages


class BlockNotFound(LookupError):
    """No block with this id in the store."""

    def __init__(self, block_id: str):
        super().__init__(f"no block {block_id}")
        self.block_id = block_id


class BlockCorrupt(ValueError):
    """A stored block's bytes do not hash to its id."""

    def __init__(self, block_id: str, detail: str = ""):
        super().__init__(f"block {block_id} is corrupt" + (f": {detail}" if detail else ""))
        self.block_id = block_id


@dataclass
class LooseFile:
    """One file found under objects/: a block, or a temp file left by a writer."""

    path: Path
    block_id: str | None  # None for a temp file or a stray name
    size: int
    mtime: float


class BlockStore:
    """Blocks in one directory; created on first write. Usable as a context manager.

    Thread-safe (one sqlite connection behind a lock); several processes may
    use the same directory at once.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.db_path = self.root / "blocks.db"
        self.objects = self.root / "objects" / "sha256"
        self.quarantine_dir = self.root / "quarantine"
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> "BlockStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- writing -------------------------------------------------------------
    def put(self, data: bytes) -> str:
        """Store `data` (idempotent) and return its id; durable when this returns."""
        return self.put_many([data])[0]

    def put_many(self, blocks: Sequence[bytes]) -> list[str]:
        """Store many blocks with one durability barrier; ids in the same order.

        Small blocks go in one sqlite transaction (one WAL fsync for the batch);
        large ones are written as temp files, then all fsynced and renamed.
        """
        hashed = [(block_id(data), data) for data in blocks]
        self.put_hashed(hashed)
        return [bid for bid, _ in hashed]

    def put_hashed(self, blocks: Sequence[tuple[str, bytes]]) -> None:
        """put_many for (id, bytes) pairs whose ids the caller has just computed from the bytes.

        Saves hashing them a second time (record ingest hashes every block to
        look it up first). An id that is not its block's hash would store a
        corrupt block, which get() refuses and fsck reports.
        """
        small: list[tuple[bytes, bytes]] = []
        large = LooseBatch(self)
        try:
            for bid, data in blocks:
                if not data:
                    raise ValueError("an empty block cannot be stored (fsck treats it as damage)")
                if len(data) <= SMALL_BLOCK_MAX:
                    small.append((_digest(bid), data))
                else:
                    large.add(bid, data)
            large.commit()
        finally:
            large.abort()
        if small:
            with self._lock:
                conn = self._connect(create=True)
                assert conn is not None
                with write_batch(conn):
                    conn.executemany("INSERT OR IGNORE INTO blocks (digest, data) VALUES (?, ?)", small)

    def loose_batch(self, drop_cached: bool = False) -> "LooseBatch":
        """A batch of large blocks written now and made durable together by `commit()`.

        drop_cached: free the blocks' pages once they are durable, for data
        nobody will read back soon (a file being stored, which is still in
        the cache as its source; a blob being fetched).
        """
        return LooseBatch(self, drop_cached)

    # -- reading -------------------------------------------------------------
    def get(self, block_id: str, verify: bool = True) -> bytes:
        """The block's bytes; BlockNotFound, or BlockCorrupt when verify finds them damaged."""
        check_block_id(block_id)
        data = self._get_small(block_id)
        if data is None:
            try:
                with open(self.loose_path(block_id), "rb") as fh:
                    data = fh.read()
            except (FileNotFoundError, NotADirectoryError):
                raise BlockNotFound(block_id) from None
        if verify:
            actual = hashlib.sha256(data).hexdigest()
            if actual != block_id[len(PREFIX):]:
                raise BlockCorrupt(block_id, "empty" if not data else f"its bytes hash to {PREFIX}{actual}")
        return data

    def get_intact(self, block_ids: Sequence[str]) -> dict[str, bytes]:
        """id -> bytes of those of `block_ids` that are stored and hash to their id.

        For serving many small blocks (records): the database is read 500
        rows per query instead of one query each. A block that is absent or
        damaged is left out; telling the two apart is get()'s job.
        """
        wanted = [i for i in dict.fromkeys(block_ids) if is_block_id(i)]
        found: dict[str, bytes] = {}
        with self._lock:
            conn = self._connect(create=False)
            if conn is not None:
                for start in range(0, len(wanted), 500):
                    page = [_digest(i) for i in wanted[start:start + 500]]
                    marks = ",".join("?" * len(page))
                    for digest, data in conn.execute(
                            f"SELECT digest, data FROM blocks WHERE digest IN ({marks})", page):
                        if hashlib.sha256(data).digest() == digest:
                            found[PREFIX + digest.hex()] = bytes(data)
        for bid in wanted:
            if bid not in found:
                try:
                    found[bid] = self.get(bid, verify=True)  # a loose file, or a damaged row
                except (BlockNotFound, BlockCorrupt):
                    pass
        return found

    def has(self, block_id: str) -> bool:
        return not self.missing([block_id])

    def missing(self, ids: Iterable[str]) -> set[str]:
        """The ids in `ids` that are not stored (malformed ids count as missing)."""
        wanted = {i for i in ids}
        absent = {i for i in wanted if not is_block_id(i)}
        wanted -= absent
        if not wanted:
            return absent
        in_db: set[str] = set()
        with self._lock:
            conn = self._connect(create=False)
            if conn is not None:
                pending = list(wanted)
                for start in range(0, len(pending), 500):  # stay under sqlite's bound-parameter limit
                    page = [_digest(i) for i in pending[start:start + 500]]
                    marks = ",".join("?" * len(page))
                    in_db.update(PREFIX + bytes(row[0]).hex()
                                 for row in conn.execute(f"SELECT digest FROM blocks WHERE digest IN ({marks})", page))
        for bid in wanted - in_db:
            if not self.loose_path(bid).is_file():
                absent.add(bid)
        return absent

    def size(self, block_id: str) -> int:
        """The stored length in bytes (without reading or verifying the block)."""
        check_block_id(block_id)
        with self._lock:
            conn = self._connect(create=False)
            if conn is not None:
                row = conn.execute("SELECT length(data) FROM blocks WHERE digest = ?", (_digest(block_id),)).fetchone()
                if row is not None:
                    return int(row[0])
        try:
            return self.loose_path(block_id).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise BlockNotFound(block_id) from None

    def ids(self) -> Iterator[str]:
        """Every stored block id: the database's (in insertion order), then the loose files'."""
        for row in self._walk_db(with_data=False, on_unreadable=_raise_unreadable):
            if row.block_id is not None:
                yield row.block_id
        for loose in self.loose_files():
            if loose.block_id is not None:
                yield loose.block_id

    def small_blocks(self, on_unreadable: "Callable[[Unreadable], None] | None" = None) -> Iterator["StoredRow"]:
        """Every row of the database with its data, unverified (malformed keys too); for fsck.

        Rows on damaged pages are skipped and reported to `on_unreadable`
        (without it, the first one raises sqlite3.DatabaseError), so one bad
        page does not hide every row after it.
        """
        return self._walk_db(with_data=True, on_unreadable=on_unreadable or _raise_unreadable)

    def loose_files(self) -> Iterator[LooseFile]:
        """Every file under objects/, block or temp, unverified; for ids() and fsck."""
        try:
            subdirs = sorted((e for e in os.scandir(self.objects) if e.is_dir(follow_symlinks=False)),
                             key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for sub in subdirs:
            try:
                entries = sorted(os.scandir(sub.path), key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # renamed or quarantined while we looked
                bid = PREFIX + sub.name + entry.name
                if len(sub.name) != 2 or len(entry.name) != _LOOSE_NAME_LENGTH or not is_block_id(bid):
                    bid = None
                yield LooseFile(Path(entry.path), bid, st.st_size, st.st_mtime)

    def loose_path(self, block_id: str) -> Path:
        hexdigest = block_id[len(PREFIX):]
        return self.objects / hexdigest[:2] / hexdigest[2:]

    # -- damage ----------------------------------------------------------------
    def quarantine(self, block_id: str, reason: str) -> Path:
        """Move a (bad) block out of the store into quarantine/; never deletes its bytes.

        The database row is removed only if it still holds exactly the bytes
        copied out, so a good copy written meanwhile by someone else survives.
        Returns the quarantined data file (the first, if the id was stored twice).
        """
        check_block_id(block_id)
        moved: list[Path] = []
        with self._lock:
            conn = self._connect(create=False)
            row = None
            if conn is not None:
                row = conn.execute("SELECT rowid FROM blocks WHERE digest = ?", (_digest(block_id),)).fetchone()
            if row is not None:
                quarantined = self.quarantine_row(int(row[0]), reason)
                if quarantined is not None:
                    moved.append(quarantined)
        if self.loose_path(block_id).exists():
            moved.append(self.quarantine_file(self.loose_path(block_id), reason, label=block_id))
        if not moved:
            raise BlockNotFound(block_id)
        return moved[0]

    def quarantine_row(self, rowid: int, reason: str) -> Path | None:
        """Copy one database row's data into quarantine/, then remove the row (None: no such row).

        The row is deleted only if it still holds exactly the bytes copied out,
        so a good copy written meanwhile by another process survives.
        """
        with self._lock:
            conn = self._connect(create=False)
            row = None if conn is None else conn.execute(
                "SELECT digest, data FROM blocks WHERE rowid = ?", (rowid,)).fetchone()
            if row is None:
                return None
            assert conn is not None
            key, data = row
            label = _label(key, rowid)
            target = self._quarantine_name(label)
            atomic_write_bytes(target, _as_bytes(data), mode=0o444)
            self._write_reason(target, label, reason)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM blocks WHERE rowid = ? AND digest IS ? AND data IS ?", (rowid, key, data))
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        return target

    def quarantine_file(self, path: Path, reason: str, label: str | None = None) -> Path:
        """Move any file of the store (a bad loose block, a stale temp) into quarantine/."""
        target = self._quarantine_name(label or path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same file system: a rename, so nothing is copied or lost
        self._write_reason(target, label or str(path), reason)
        fsync_dir(path.parent)
        return target

    def _quarantine_name(self, label: str) -> Path:
        safe = label[len(PREFIX):] if is_block_id(label) else "x-" + hashlib.sha256(label.encode()).hexdigest()[:16]
        return self.quarantine_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}-{safe}"

    def _write_reason(self, target: Path, what: str, reason: str) -> None:
        text = f"{what}\n{reason}\nquarantined {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        atomic_write_bytes(target.with_name(target.name + ".reason"), text.encode("utf-8", "replace"))

    def check_database(self, full: bool = False) -> list[str]:
        """Problems sqlite finds in blocks.db (empty list: fine or absent).

        `full` runs `PRAGMA integrity_check`, which also checks that the
        index of digests agrees with the table (a damaged index makes
        blocks that are there look missing); else the faster quick_check.
        """
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # so the check sees our writes in the file
                except sqlite3.Error:
                    pass
            return integrity_problems(self.db_path, quick=not full)

    def quarantine_database(self, database: Path, reason: str) -> Path:
        """Where a damaged database (blocks.db, or the node's records.db) is kept before it is
        replaced: a new name in quarantine/, with its .reason file written."""
        target = self.quarantine_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}-{database.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        self._write_reason(target, str(database), reason)
        return target

    def salvage_database(self, reason: str) -> "Salvage":
        """Replace a damaged blocks.db by a new one holding every row that can still be read.

        The rows are copied as they are (damaged bytes too: fsck then moves
        those aside, with the others it finds); the old files are kept in
        quarantine/. What could not be read is listed in the result: the
        blocks in it are missing now, and a sync or a backup must bring them.
        """
        result = Salvage(kept_as=self.quarantine_database(self.db_path, reason))
        built = self.root / f"{TEMP_PREFIX}salvage-{secrets.token_hex(4)}.db"
        with self._lock:
            self.close()
            try:
                target = connect_wal(built, _SCHEMA)
                try:
                    with write_batch(target):
                        for row in self._readable_rows_of_file(result.unreadable.append):
                            target.execute("INSERT OR IGNORE INTO blocks (rowid, digest, data) VALUES (?, ?, ?)", row)
                            result.rows += 1
                finally:
                    target.close()
                replace_database(self.db_path, built, result.kept_as)
            finally:
                for leftover in database_files(built):
                    leftover.unlink(missing_ok=True)
        return result

    def _readable_rows_of_file(self, on_unreadable) -> Iterator[tuple]:
        """(rowid, digest, data) of every readable row of blocks.db, through a connection of its own
        that changes nothing (no WAL switch, no schema), so a damaged file is read as it is."""
        try:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            on_unreadable(Unreadable(0, None, str(exc)))
            return
        try:
            # A file cut short is shorter than its header says; sqlite then refuses
            # to read any of it, unless told to trust the file's size instead.
            # This connection only reads.
            conn.execute("PRAGMA writable_schema=ON")
            yield from readable_rows(conn, "blocks", "digest, data", on_unreadable)
        finally:
            conn.close()

    # -- internals ---------------------------------------------------------------
    def _get_small(self, block_id: str) -> bytes | None:
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return None
            row = conn.execute("SELECT data FROM blocks WHERE digest = ?", (_digest(block_id),)).fetchone()
        return None if row is None else bytes(row[0])

    def _walk_db(self, with_data: bool, on_unreadable: "Callable[[Unreadable], None]") -> Iterator["StoredRow"]:
        # Pages by rowid (insertion order, the table's physical order) rather
        # than one open cursor: the caller may write to the store between
        # items, and a long-lived read transaction would pin the WAL.
        with self._lock:
            try:
                conn = self._connect(create=False)
            except sqlite3.DatabaseError:
                conn = None
                if self.db_path.exists():  # too damaged to open as usual: read what the file still holds
                    for rowid, key, data in self._readable_rows_of_file(on_unreadable):
                        yield _stored_row(rowid, key, data if with_data else None)
                    return
        if conn is None:
            return
        columns = "digest, data" if with_data else "digest, NULL"
        for rowid, key, data in readable_rows(conn, "blocks", columns, on_unreadable, page_rows=_PAGE,
                                              lock=self._lock):
            yield _stored_row(rowid, key, data)

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """The connection, opened on first use; None when reading a store never written."""
        if self._conn is not None:
            return self._conn
        if not create and not self.db_path.exists():
            return None
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = connect_wal(self.db_path, _SCHEMA, BUSY_TIMEOUT_S)
        try:
            # Checkpoint every ~40 MB of WAL rather than 4 MB: random-key inserts
            # rewrite the same index pages batch after batch, and a rarer
            # checkpoint copies each of them to the database once, not ten times.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn


@dataclass
class Salvage:
    """What salvage_database did."""

    kept_as: Path  # the damaged database, kept in quarantine/
    rows: int = 0  # rows copied into the new database
    unreadable: list[Unreadable] = field(default_factory=list)  # stretches that could not be read


def _raise_unreadable(gap: Unreadable) -> None:
    raise sqlite3.DatabaseError(gap.describe("blocks.db"))


@dataclass
class StoredRow:
    """One row of blocks.db as found on disk (fsck looks at damaged rows too)."""

    rowid: int
    block_id: str | None  # None when the key is not a 32-byte digest
    label: str  # the block id, or a name for a malformed row
    data: bytes | None


def _stored_row(rowid: int, key: object, data: object) -> StoredRow:
    well_formed = isinstance(key, bytes) and len(key) == 32
    return StoredRow(rowid, PREFIX + key.hex() if well_formed else None, _label(key, rowid),
                     None if data is None else _as_bytes(data))


def _digest(block_id: str) -> bytes:
    return bytes.fromhex(block_id[len(PREFIX):])


def _as_bytes(value: object) -> bytes:
    """A BLOB as bytes; a TEXT or number someone wrote into the table by hand as its text."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")


def _label(key: object, rowid: int) -> str:
    if isinstance(key, bytes) and len(key) == 32:
        return PREFIX + key.hex()
    return f"blocks.db row {rowid}"


@dataclass
class _Pending:
    block_id: str
    temp: Path
    final: Path


@dataclass
class LooseBatch:
    """Large blocks written as temp files now, made durable and visible by `commit()`.

    commit: fsync every temp, rename each to its real name, fsync each
    directory touched once. Until then nothing is visible under a real name;
    `abort()` (or a crash) leaves only temps, which `abort` removes.
    Blocks already stored (a file of the right size exists) are skipped.
    """

    store: BlockStore
    drop_cached: bool = False  # see BlockStore.loose_batch
    _pending: list[_Pending] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, block_id: str, data: "bytes | bytearray | memoryview") -> None:
        """Write one block's temp file (the id must be the hash of `data`; not checked here)."""
        if block_id in self._seen:
            return
        self._seen.add(block_id)
        final = self.store.loose_path(block_id)
        try:
            if final.stat().st_size == len(data):
                return  # already stored; a wrong-sized (damaged) file gets replaced
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f"{TEMP_PREFIX}{final.name[:8]}-{os.getpid()}-{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        try:
            write_all(fd, data)
            # Start writeback now (it does not wait), so the fsync in commit()
            # finds most of the data already on its way to the disk.
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except (AttributeError, OSError):
                pass
        except BaseException:
            # A write cut short (a full disk) must never be committed under the
            # block's real name by a later commit(): it is not part of the batch.
            os.close(fd)
            temp.unlink(missing_ok=True)
            self._seen.discard(block_id)
            raise
        # Closed now and reopened to fsync in commit(): a batch of thousands
        # of blocks must not hold thousands of descriptors.
        os.close(fd)
        self._pending.append(_Pending(block_id, temp, final))

    def commit(self) -> None:
        """Make every added block durable and visible; then the batch is empty."""
        pending, self._pending = self._pending, []
        try:
            for item in pending:
                fd = os.open(item.temp, os.O_RDONLY | os.O_CLOEXEC)  # fsync is per file, not per descriptor
                try:
                    os.fsync(fd)
                    if self.drop_cached:
                        _drop_cached(fd)
                finally:
                    os.close(fd)
            dirs: dict[Path, None] = {}
            for item in pending:
                os.replace(item.temp, item.final)
                dirs[item.final.parent] = None
            # The parents too: a block is only durable if the directories on its
            # path are (a new `ab/` subdirectory, or a brand-new store). Cheap
            # when nothing in them changed.
            for directory in [*dirs, self.store.objects, self.store.objects.parent, self.store.root]:
                fsync_dir(directory)
        except BaseException:
            self._pending = [p for p in pending if p.temp.exists()] + self._pending
            raise
        self._seen.clear()

    def abort(self) -> None:
        """Remove the temp files of blocks not committed (safe to call after commit)."""
        pending, self._pending = self._pending, []
        for item in pending:
            try:
                os.unlink(item.temp)
            except FileNotFoundError:
                pass
        self._seen.clear()


def _drop_cached(fd: int) -> None:
    """Let the kernel free a just-fsynced file's pages now instead of keeping them cached.

    Freeing them at each barrier lets the next window's writes reuse the
    same, recently used pages rather than fresh memory, which on this VM
    costs ~2.4 ms/MiB to touch (the host faults it back in) against ~0.16 ms.
    The price is a read from disk for whoever reads the blocks next, hence
    only on request.
    """
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):
        pass
