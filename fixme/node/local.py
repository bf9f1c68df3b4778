"""The node's own storage as the sync code sees it: one thread, async calls.

sqlite and file writes block; a node serving several peers must not stall
its event loop on them. Every storage call goes through one worker thread,
which also serialises them (one sqlite connection, used by one thread at a
time). Each peer's requests are answered one at a time, so a peer flooding
requests queues behind its own earlier ones, not in front of other peers'.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

from .blobs import Manifest, ManifestError, parse_manifest
from .blocks import BlockCorrupt, BlockNotFound, LooseBatch, SMALL_BLOCK_MAX
from .channel import TransportError
from .database import describe_storage_error
from .log import VERIFY_THREADS, IngestReport, RecordLog, Rejected, StagedIngest
from .messages import (
    MAX_BLOCK_DATA,
    MAX_HEADS_PER_LOG,
    BlobStatus,
    Block,
    HaveBlob,
    LogHeads,
    Message,
    NotFound,
    Records,
    WantBlock,
    WantChunk,
    WantRecords,
    encode_checked_block,
)
from .records import Record
from .rebuild import open_log_index
from .reconcile import locator, records_to_send
from .staging import Position, PullLedger, StagedRecords
from .storage import open_node_storage

CHUNKS_PER_COMMIT = 16   # chunks made durable together while fetching a blob


class StorageError(TransportError):
    """Our own storage failed (a full disk, a damaged database): the session cannot go on.

    A TransportError, because it ends the session like one: the node tells
    the peer why (an `error` message, e.g. "disk full (...)") and closes,
    rather than leaving it to guess from a closed connection.
    """


class LocalStore:
    """Blocks, refs and record logs of one node directory, for asyncio code."""

    def __init__(self, node_dir: Path, logs: Iterable[str]):
        self.node_dir = Path(node_dir)
        self.store, self.refs = open_node_storage(self.node_dir)
        # Checked, and rebuilt from the blocks when lost or damaged: a node
        # with a stale index would announce old heads and serve nothing new.
        index = open_log_index(self.node_dir, create=True, check=True)
        assert index is not None
        self.index = index
        self.logs = {name: RecordLog(self.store, self.refs, self.index, name) for name in logs}
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="node-storage")
        # Signature checks touch no storage: they run beside the storage
        # thread (libsodium releases the GIL), while records still arrive.
        self._verifiers = ThreadPoolExecutor(max_workers=VERIFY_THREADS, thread_name_prefix="node-verify")
        self._manifests: dict[str, Manifest] = {}

    def close(self) -> None:
        self._verifiers.shutdown(wait=True)
        self._io.shutdown(wait=True)
        self.index.close()
        self.store.close()

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) on the storage thread; a failure of the storage itself becomes a StorageError."""
        return await asyncio.get_running_loop().run_in_executor(self._io, _storage_call, fn, args)

    # -- record logs ---------------------------------------------------------
    async def hello(self) -> list[LogHeads]:
        return await self.call(self._hello)

    def _hello(self) -> list[LogHeads]:
        # A log rarely has more than a few heads (the next write merges them).
        # With more than the cap we announce the newest; the rest follow
        # once a write has merged them.
        hellos = []
        for name, log in self.logs.items():
            heads = log.heads()
            if len(heads) > MAX_HEADS_PER_LOG:
                clocks = self.index.clocks(heads)
                heads = sorted(heads, key=lambda h: (clocks.get(h, 0), h))[-MAX_HEADS_PER_LOG:]
            hellos.append(LogHeads(name, tuple(heads)))
        return hellos

    async def missing_heads(self) -> list[str]:
        """Heads of our logs whose blocks are not in the block store (it was lost or damaged)."""
        return await self.call(self._missing_heads)

    def _missing_heads(self) -> list[str]:
        heads = [head for log in self.logs.values() for head in log.heads()]
        return sorted(self.store.missing(heads))

    async def heads(self, name: str) -> list[str]:
        return await self.call(self.logs[name].heads)

    async def known(self, ids: list[str]) -> set[str]:
        return await self.call(self.index.known, ids) if ids else set()

    async def locator(self, name: str) -> list[str]:
        return await self.call(locator, self.logs[name])

    async def ingest(self, name: str, blocks: list[bytes]) -> IngestReport:
        return await self.call(self.logs[name].ingest, blocks)

    async def verify(self, name: str, records: list[Record]) -> tuple[list[Record], list[Rejected]]:
        """RecordLog.verify on a verifier thread."""
        return await asyncio.get_running_loop().run_in_executor(self._verifiers, self.logs[name].verify, records)

    async def ingest_verified(self, name: str, records: list[Record]) -> IngestReport:
        return await self.call(self.logs[name].ingest_verified, records)

    async def verify_and_stage(self, name: str, records: list[Record], staged: StagedRecords) -> list[Rejected]:
        """RecordLog.verify on a verifier thread, staging there what passes; the refused."""
        def verify() -> list[Rejected]:
            good, rejected = self.logs[name].verify(records)
            _storage_call(staged.add, (good,))
            return rejected
        return await asyncio.get_running_loop().run_in_executor(self._verifiers, verify)

    async def pull_scratch(self) -> tuple[PullLedger, StagedRecords]:
        """Scratch space for one pull (staging.py): the walk's ledger, used through call(), and
        the staged records. Close both when the pull ends."""
        return await self.call(_pull_scratch, self.index.known)

    async def ingest_staged(self, name: str, staged: StagedRecords, after: Position | None,
                            limit: int) -> tuple[StagedIngest, Position] | None:
        """Store the next page of staged records (parents first): what ingest did, and where the
        page ended; None when every staged record has been through."""
        return await self.call(self._ingest_staged, name, staged, after, limit)

    def _ingest_staged(self, name: str, staged: StagedRecords, after: Position | None,
                       limit: int) -> tuple[StagedIngest, Position] | None:
        page = staged.page(after, limit)
        if not page:
            return None
        return self.logs[name].ingest_staged(page), (page[-1].clock, page[-1].id)

    async def referenced_blocks_missing(self) -> list[str]:
        """Blocks that records of our logs name in `refs` (attachments) and we lack."""
        return await self.call(self._referenced_missing)

    def _referenced_missing(self) -> list[str]:
        names = list(self.logs)
        marks = ",".join("?" * len(names))
        refs: dict[str, None] = {}
        for (text,) in self.index.db.execute(
                f"SELECT refs FROM records WHERE refs != '' AND log IN ({marks}) ORDER BY seq", names):
            refs.update(dict.fromkeys(text.split()))
        absent = self.store.missing(refs)
        return [r for r in refs if r in absent]

    # -- blobs ---------------------------------------------------------------
    async def manifest(self, blob_id: str) -> Manifest | None:
        """The blob's manifest if we hold it (and it is one), else None."""
        return await self.call(self._manifest, blob_id)

    def _manifest(self, blob_id: str) -> Manifest | None:
        if blob_id in self._manifests:
            return self._manifests[blob_id]
        try:
            manifest = parse_manifest(self.store.get(blob_id, verify=True))
        except (BlockNotFound, BlockCorrupt, ManifestError):
            return None
        if len(self._manifests) > 64:
            self._manifests.clear()
        self._manifests[blob_id] = manifest
        return manifest

    async def missing_chunks(self, manifest: Manifest) -> list[int]:
        """Indexes of the chunks we lack (the first index of each distinct chunk)."""
        return await self.call(self._missing_chunks, manifest)

    def _missing_chunks(self, manifest: Manifest) -> list[int]:
        absent = self.store.missing(manifest.chunks)
        first: dict[str, int] = {}
        for index, chunk in enumerate(manifest.chunks):
            if chunk in absent and chunk not in first:
                first[chunk] = index
        return sorted(first.values())

    def chunk_writer(self) -> ChunkWriter:
        return ChunkWriter(self)

    async def put(self, data: bytes) -> str:
        return await self.call(self.store.put, data)

    # -- answering a peer ----------------------------------------------------
    async def answer(self, request: Message) -> list[Message | bytes]:
        return await self.call(self._answer, request)

    def _answer(self, request: Message) -> list[Message | bytes]:
        if isinstance(request, WantRecords):
            return self._records_answer(request)
        if isinstance(request, HaveBlob):
            manifest = self._manifest(request.manifest)
            return [BlobStatus(request.manifest, self._ranges(manifest))]
        if isinstance(request, WantChunk):
            manifest = self._manifest(request.manifest)
            if manifest is None or request.index >= len(manifest.chunks):
                return [NotFound(request.manifest)]
            return [self._block_or_not_found(manifest.chunks[request.index])]
        if isinstance(request, WantBlock):
            return [self._block_or_not_found(request.id)]
        raise ValueError(f"not a request: {type(request).__name__}")

    def _records_answer(self, request: WantRecords) -> list[Message | bytes]:
        chosen, missing = records_to_send(self.index, request.ids, request.have)
        # Read in pages and checked against their ids here, so each is
        # encoded without hashing it again (the receiver hashes it anyway).
        intact = self.store.get_intact(chosen)
        blocks: list[Message | bytes] = []
        for record_id in chosen:
            data = intact.get(record_id)
            if data is not None:
                blocks.append(encode_checked_block(record_id, data))
            elif record_id in request.ids:
                missing.append(record_id)  # indexed but damaged or moved aside by fsck: not passed on
        return [Records(len(blocks), tuple(missing)), *blocks]

    def _ranges(self, manifest: Manifest | None) -> tuple[tuple[int, int], ...]:
        """The chunk indexes we hold, as sorted half-open ranges (at most 1024 of them)."""
        if manifest is None:
            return ()
        absent = self.store.missing(manifest.chunks)
        ranges: list[tuple[int, int]] = []
        for index, chunk in enumerate(manifest.chunks):
            if chunk in absent:
                continue
            if ranges and ranges[-1][1] == index:
                ranges[-1] = (ranges[-1][0], index + 1)
            else:
                ranges.append((index, index + 1))
        return tuple(ranges[:1024])

    def _block_or_not_found(self, block_id: str) -> Message | bytes:
        try:
            data = self.store.get(block_id, verify=True)
        except (BlockNotFound, BlockCorrupt):
            return NotFound(block_id)
        if len(data) > MAX_BLOCK_DATA:
            return NotFound(block_id)
        return encode_checked_block(block_id, data)


def _pull_scratch(held: Callable[[list[str]], set[str]]) -> tuple[PullLedger, StagedRecords]:
    ledger = PullLedger(held)
    try:
        return ledger, StagedRecords()
    except BaseException:
        ledger.close()
        raise


def _storage_call(fn: Callable[..., Any], args: tuple) -> Any:
    try:
        return fn(*args)
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(describe_storage_error(exc)) from exc


class ChunkWriter:
    """Stores the chunks of a blob being fetched, durable in small groups.

    A fetch that is interrupted keeps every group already committed, so the
    next attempt asks only for the rest. Small chunks (the last one of most
    blobs) go to sqlite, large ones to loose files.
    """

    def __init__(self, local: LocalStore):
        self.local = local
        # A fetched blob is seldom read back at once; freeing each group's
        # pages once durable lets the next group's writes reuse them. On
        # this VM, writing into memory it had not touched lately doubled
        # the fetcher's CPU (first fetches: ~200 MiB/s kept, ~300 dropped).
        self._batch: LooseBatch = local.store.loose_batch(drop_cached=True)
        self._small: list[bytes] = []

    async def add(self, block: Block) -> None:
        await self.local.call(self._add, block)

    def _add(self, block: Block) -> None:
        if len(block.data) <= SMALL_BLOCK_MAX:
            self._small.append(block.data)
        else:
            self._batch.add(block.id, block.data)
        if len(self._batch) + len(self._small) >= CHUNKS_PER_COMMIT:
            self._commit()

    async def commit(self) -> None:
        await self.local.call(self._commit)

    def _commit(self) -> None:
        if self._small:
            self.local.store.put_many(self._small)
            self._small = []
        self._batch.commit()

    async def abort(self) -> None:
        await self.local.call(self._batch.abort)
