"""Files of any size as fixed-size chunks under a manifest block.

A blob is stored as its chunks (each a block; 1 MiB ones are loose files)
plus one manifest block, a canonical document

    {"chunk_size": 1048576, "chunks": ["sha256:…", …], "size": N, "type": "blob"}

whose id names the blob. Fixed-size chunks let a reader (or a sync fetching
from several peers) know each chunk's offset and length from the manifest
alone, and verify every chunk on its own.

Everything streams: memory stays flat whatever the file size; only the
manifest's id list grows (~75 bytes per MiB).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from ..fsutil import replacing, write_all
from . import canonical
from .blocks import SMALL_BLOCK_MAX, BlockCorrupt, BlockStore, LooseBatch
from .hashing import PREFIX, is_block_id

CHUNK_SIZE = 1024 * 1024
MIN_CHUNK_SIZE = 1024
# A chunk travels as one block message, which holds at most MAX_BLOCK_DATA
# (1 MiB + 16 KiB - 73) bytes: a manifest with bigger chunks would name a
# blob no peer could ever send. 1 MiB is the largest round size that fits.
MAX_CHUNK_SIZE = 1024 * 1024

# Chunks written between two durability barriers. Each barrier costs a round
# of fsyncs plus directory fsyncs; 32 MiB windows amortise that, and the
# barrier of one window runs in a thread while the next window is written.
WINDOW_CHUNKS = 32


class ManifestError(ValueError):
    """A block that is not a well-formed blob manifest."""


@dataclass(frozen=True)
class Manifest:
    size: int
    chunk_size: int
    chunks: tuple[str, ...]

    def chunk_length(self, index: int) -> int:
        """The exact length chunk `index` must have (all full but the last)."""
        return min(self.chunk_size, self.size - index * self.chunk_size)


def put_blob(store: BlockStore, stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> str:
    """Store everything `stream` yields as a blob; returns the manifest's id.

    Durable when it returns: every chunk is fsynced and renamed before the
    manifest (which names them) is written.
    """
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size {chunk_size} outside [{MIN_CHUNK_SIZE}, {MAX_CHUNK_SIZE}]")
    # Two buffers, reused for every chunk (no allocation per MiB): this
    # thread reads and hashes into one while the writer thread writes the
    # other out, so hashing and writing overlap (both release the GIL).
    buffers = [memoryview(bytearray(chunk_size)) for _ in range(2)]
    chunks: list[str] = []
    small: list[bytes] = []  # chunks small enough for sqlite: the last one, or all with a tiny chunk_size
    small_bytes = 0
    size = 0
    current = 0
    with _ChunkWriter(store) as writer:
        while True:
            view = buffers[current]
            length = _read_full(stream, view)
            if length == 0:
                break
            size += length
            piece = view[:length]
            chunk_id = PREFIX + hashlib.sha256(piece).hexdigest()
            chunks.append(chunk_id)
            if length <= SMALL_BLOCK_MAX:
                small.append(bytes(piece))
                small_bytes += length
                if small_bytes >= WINDOW_CHUNKS * CHUNK_SIZE:  # keep memory flat
                    store.put_many(small)
                    small, small_bytes = [], 0
            else:
                writer.write(chunk_id, piece)
                current ^= 1  # the writer holds this buffer now, and is done with the other
            if length < chunk_size:
                break
    if small:
        store.put_many(small)
    manifest = {"type": "blob", "size": size, "chunk_size": chunk_size, "chunks": chunks}
    return store.put(canonical.encode(manifest))


class _ChunkWriter:
    """Writes large chunks' temp files in one thread and makes full windows durable in another.

    At most one chunk is being written and one window committed at a time,
    so the caller may refill a buffer as soon as `write` returns for the
    chunk after it, and memory stays flat. Leaving the `with` block without
    an error commits the last window (durable on return); with an error,
    every temp file not yet committed is removed.
    """

    def __init__(self, store: BlockStore):
        self._store = store
        self._window = self._new_window()
        self._in_flight: LooseBatch | None = None  # the window being committed
        self._writing: Future[None] | None = None
        self._barrier: Future[None] | None = None
        # Two threads: one write and one commit may run at once, never more.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="blob-put")

    def __enter__(self) -> "_ChunkWriter":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._finish()
            else:
                self._abort()
        finally:
            self._pool.shutdown(wait=True)

    def write(self, chunk_id: str, piece: memoryview) -> None:
        """Start writing one chunk; returns once the chunk before it is written (its buffer is free again)."""
        self._wait_for_write()
        if len(self._window) >= WINDOW_CHUNKS:
            self._start_barrier()
        self._writing = self._pool.submit(self._window.add, chunk_id, piece)

    def _start_barrier(self) -> None:
        if self._barrier is not None:
            self._barrier.result()
        self._in_flight, self._window = self._window, self._new_window()
        self._barrier = self._pool.submit(self._in_flight.commit)

    def _new_window(self) -> LooseBatch:
        # The file being stored is in the page cache already (it was just
        # read); a second cached copy would only push other data out.
        return self._store.loose_batch(drop_cached=True)

    def _wait_for_write(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _finish(self) -> None:
        try:
            self._wait_for_write()
            if self._barrier is not None:
                self._barrier.result()
            self._window.commit()
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        for pending in (self._writing, self._barrier):
            if pending is not None:
                try:
                    pending.result()
                except BaseException:
                    pass  # the error that brought us here is the one to report
        self._writing = self._barrier = None
        if self._in_flight is not None:
            self._in_flight.abort()
        self._window.abort()


def parse_manifest(data: bytes) -> Manifest:
    """The manifest in `data`, checked strictly; ManifestError otherwise."""
    try:
        doc = canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise ManifestError(f"not a blob manifest: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "blob":
        raise ManifestError("not a blob manifest: type is not 'blob'")
    if set(doc) != {"type", "size", "chunk_size", "chunks"}:
        raise ManifestError(f"not a blob manifest: fields {sorted(doc)}")
    size, chunk_size, chunks = doc["size"], doc["chunk_size"], doc["chunks"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"bad blob manifest: size {size!r}")
    if (not isinstance(chunk_size, int) or isinstance(chunk_size, bool)
            or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE):
        raise ManifestError(f"bad blob manifest: chunk_size {chunk_size!r}")
    if not isinstance(chunks, list) or not all(is_block_id(c) for c in chunks):
        raise ManifestError("bad blob manifest: chunks must be a list of block ids")
    expected = -(-size // chunk_size)
    if len(chunks) != expected:
        raise ManifestError(f"bad blob manifest: {len(chunks)} chunks for {size} bytes (expected {expected})")
    return Manifest(size, chunk_size, tuple(chunks))


def read_manifest(store: BlockStore, blob_id: str) -> Manifest:
    """The manifest block `blob_id`, verified and checked (BlockNotFound, BlockCorrupt, ManifestError)."""
    return parse_manifest(store.get(blob_id, verify=True))


def iter_blob(store: BlockStore, blob_id: str) -> Iterator[bytes]:
    """The blob's bytes, chunk by chunk, each verified (hash and length) before it is yielded."""
    return _iter_chunks(store, blob_id, read_manifest(store, blob_id))


def _iter_chunks(store: BlockStore, blob_id: str, manifest: Manifest) -> Iterator[bytes]:
    # One chunk ahead in a thread: reading and hashing (which releases the
    # GIL) overlap with whatever the consumer does with the previous chunk,
    # typically writing it out. At most three chunks are in memory.
    def load(index: int) -> bytes:
        chunk_id = manifest.chunks[index]
        data = store.get(chunk_id, verify=True)
        if len(data) != manifest.chunk_length(index):
            raise BlockCorrupt(chunk_id, f"chunk {index} of blob {blob_id} has {len(data)} bytes, "
                                         f"expected {manifest.chunk_length(index)}")
        return data

    if not manifest.chunks:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="blob-read") as pool:
        ahead = pool.submit(load, 0)
        for index in range(len(manifest.chunks)):
            data = ahead.result()
            if index + 1 < len(manifest.chunks):
                ahead = pool.submit(load, index + 1)
            yield data


def write_blob(store: BlockStore, blob_id: str, dest: Path) -> None:
    """Write the blob to `dest` atomically: `dest` is only ever the whole, verified file.

    Streams into a temp file beside `dest` (so the final rename stays on one
    file system), fsyncs, renames, fsyncs the directory; on any failure the
    temp file is removed and the error raised.
    """
    dest = Path(dest)
    manifest = read_manifest(store, blob_id)  # fail before creating anything
    with replacing(dest, mode=0o666) as fd:
        written = 0
        for data in _iter_chunks(store, blob_id, manifest):
            write_all(fd, data)
            # Start writeback of what is written so far; the final fsync then
            # waits for the tail, not for the whole file.
            try:
                os.posix_fadvise(fd, written, len(data), os.POSIX_FADV_DONTNEED)
            except (AttributeError, OSError):
                pass
            written += len(data)
        if written != manifest.size:  # cannot happen when every chunk checked out; cheap to be sure
            raise BlockCorrupt(blob_id, f"blob has {written} bytes, manifest says {manifest.size}")


def missing_chunks(store: BlockStore, blob_id: str) -> list[str]:
    """Chunks the manifest names that the store lacks, in manifest order (each once)."""
    manifest = read_manifest(store, blob_id)
    absent = store.missing(manifest.chunks)
    return [c for c in dict.fromkeys(manifest.chunks) if c in absent]


def _read_full(stream: BinaryIO, view: memoryview) -> int:
    """Fill `view` from `stream` (pipes return short reads); the count, < len(view) only at EOF."""
    readinto = getattr(stream, "readinto", None)
    filled = 0
    while filled < len(view):
        if readinto is not None:
            got = readinto(view[filled:])
        else:
            data = stream.read(len(view) - filled)
            got = len(data) if data else 0
            view[filled:filled + got] = data or b""
        if not got:
            break
        filled += got
    return filled
