"""Fetching a blob from every peer that has it, at once.

1. The manifest: ours if we hold it, else `want_block` from the peers in
   turn (its id is its hash, so any peer's copy is as good as another's).
2. `have_blob` to every peer: which chunks each one holds.
3. Each peer gets its own worker with a window of WINDOW requests in flight.
   A worker takes the lowest chunk nobody has been asked for that its peer
   holds, so no chunk is asked of two peers, until the very end: a worker
   with nothing left to take asks for a chunk still in flight elsewhere
   (the "endgame"), so one slow peer cannot hold up the last chunks. The
   copy that arrives second is dropped and counted as duplicate bytes.
4. Every chunk is checked (its id and length against the manifest; the
   codec already checked the hash) and stored; the manifest is stored last,
   so holding a manifest means holding the whole blob.

A peer that sends a bad chunk is dropped from this fetch and its fault is
counted, for its key and for its address; after MAX_FAULTS faults of a key,
or MAX_ADDRESS_FAULTS from an address, that key or address is banned for
BAN_SECONDS (the caller keeps the book). An interrupted fetch resumes: chunks are committed in
small groups, and the next fetch asks only for those still missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .blobs import Manifest, ManifestError, parse_manifest
from .channel import TransportError
from .chunkset import ChunkClaimError, HeldChunks
from .local import LocalStore, StorageError
from .messages import BlobStatus, Block, HaveBlob, NotFound, ProtocolError, WantBlock, WantChunk
from .peer import PeerLink

log = logging.getLogger(__name__)

WINDOW = 8               # chunk requests in flight per peer (8 MiB with 1 MiB chunks)
MAX_FAULTS = 3           # faults of one node key before it is banned
# Faults from one address (any keys) before the address is banned. A key is
# free to make, so counting keys alone let a banned peer straight back in with
# a fresh one. An address may hold several nodes (one machine, a NAT), so it
# takes a second key's worth of faults, not one.
MAX_ADDRESS_FAULTS = 2 * MAX_FAULTS
BAN_SECONDS = 600.0


class FetchError(Exception):
    """The blob could not be fetched (no peer has it, or not all of it)."""


class BlobUnavailable(FetchError):
    """Every peer asked answered that it does not hold the blob."""


@dataclass(frozen=True)
class Fault:
    """One fault, as FaultBook tells it: whose, and the end of the bans it started (0.0: none)."""

    key: bytes
    address: str | None
    key_banned_until: float = 0.0
    address_banned_until: float = 0.0


@dataclass
class FaultBook:
    """Bad data per peer key and per peer address, and bans: shared by every fetch of a node.

    `on_fault(fault)` is told of every fault, so the node can keep bans across restarts.
    """

    faults: dict[bytes, int] = field(default_factory=dict)
    banned_until: dict[bytes, float] = field(default_factory=dict)
    address_faults: dict[str, int] = field(default_factory=dict)
    address_banned_until: dict[str, float] = field(default_factory=dict)
    on_fault: Callable[[Fault], None] | None = None

    def is_banned(self, key: bytes) -> bool:
        return self.banned_until.get(key, 0.0) > time.time()

    def is_address_banned(self, address: str) -> bool:
        return self.address_banned_until.get(address, 0.0) > time.time()

    def fault(self, key: bytes, address: str | None = None) -> bool:
        """Count a fault of the peer `key` at `address`; True if it is now banned (by key or address)."""
        fault = Fault(key, address, _count(self.faults, self.banned_until, key, MAX_FAULTS),
                      _count(self.address_faults, self.address_banned_until, address, MAX_ADDRESS_FAULTS)
                      if address is not None else 0.0)
        if self.on_fault is not None:
            self.on_fault(fault)
        return bool(fault.key_banned_until or fault.address_banned_until)


def _count(faults: dict, banned_until: dict, subject: object, limit: int) -> float:
    """One more fault of `subject`; the end of its ban if this one bans it, else 0.0."""
    faults[subject] = faults.get(subject, 0) + 1
    if faults[subject] < limit:
        return 0.0
    faults[subject] = 0
    banned_until[subject] = time.time() + BAN_SECONDS
    return banned_until[subject]


@dataclass
class FetchReport:
    blob: str
    size: int = 0
    chunks: int = 0
    already: int = 0                  # distinct chunks we held before
    fetched: int = 0                  # distinct chunks that came in
    duplicate_bytes: int = 0          # bytes of chunks that came twice (endgame)
    by_peer: dict[str, int] = field(default_factory=dict)   # peer label -> chunks
    dropped: dict[str, str] = field(default_factory=dict)   # peer label -> why
    complete: bool = False


Progress = Callable[[int, int], None]   # (distinct chunks held, distinct chunks in the blob)


async def fetch_blob(blob_id: str, links: list[PeerLink], local: LocalStore, faults: FaultBook,
                     progress: Progress | None = None, expected_size: int | None = None) -> FetchReport:
    """Fetch `blob_id` from `links`; FetchError if it cannot be completed.

    `expected_size`: what the application was told the blob holds (an attach
    record's `size`); a manifest that says otherwise is refused before any
    chunk is asked for.
    """
    try:
        return await _fetch_blob(blob_id, links, local, faults, progress, expected_size)
    except StorageError as exc:
        # Our own disk, not the peers: no fault of theirs, and no point asking the next peer.
        raise FetchError(f"{blob_id}: cannot store it: {exc}") from exc


async def _fetch_blob(blob_id: str, links: list[PeerLink], local: LocalStore, faults: FaultBook,
                      progress: Progress | None, expected_size: int | None) -> FetchReport:
    report = FetchReport(blob_id)
    links = [link for link in links if not faults.is_banned(link.peer_key)]
    manifest = await local.manifest(blob_id)
    fetched_manifest: bytes | None = None
    if manifest is None:
        manifest, fetched_manifest = await _fetch_manifest(blob_id, links)
    if expected_size is not None and manifest.size != expected_size:
        raise FetchError(f"blob {blob_id[:19]}… is {manifest.size} bytes by its manifest, not the "
                         f"{expected_size} expected: refused")
    report.size, report.chunks = manifest.size, len(set(manifest.chunks))
    need = await local.missing_chunks(manifest)
    report.already = report.chunks - len(need)
    if need:
        sources = await _sources(blob_id, len(manifest.chunks), links, faults, report)
        await _Fetch(blob_id, manifest, need, sources, local, faults, report, progress).run()
    if fetched_manifest is not None:
        await local.put(fetched_manifest)  # last: holding a manifest means holding the blob
    report.complete = True
    return report


async def _fetch_manifest(blob_id: str, links: list[PeerLink]) -> tuple[Manifest, bytes]:
    """The manifest from the first peer that has it, and its bytes (their hash is `blob_id`)."""
    for link in links:
        try:
            answer = await link.request(WantBlock(blob_id))
        except TransportError as exc:
            log.info("%s: no manifest: %s", link.label, exc)
            continue
        if isinstance(answer, Block):
            try:
                return parse_manifest(answer.data), answer.data
            except ManifestError as exc:
                raise FetchError(f"{blob_id} is not a blob: {exc}") from None
    if not links:
        raise FetchError(f"no peer to fetch blob {blob_id} from")
    if all(link.failure is None for link in links):
        raise BlobUnavailable(f"no peer has blob {blob_id}")
    raise FetchError(f"no peer has blob {blob_id}")  # some could not be asked: not their final word


async def _sources(blob_id: str, chunk_count: int, links: list[PeerLink], faults: FaultBook,
                   report: FetchReport) -> dict[PeerLink, HeldChunks]:
    """Each peer that has some of the blob, and the chunks it says it has.

    A claim to chunks the blob does not have (its manifest fixes how many)
    is a fault, like a bad chunk: the peer is not asked for this blob.
    """
    async def status(link: PeerLink) -> tuple[PeerLink, HeldChunks | None]:
        try:
            answer = await link.request(HaveBlob(blob_id))
        except TransportError as exc:
            report.dropped[link.label] = str(exc)
            return link, None
        assert isinstance(answer, BlobStatus)
        try:
            return link, HeldChunks(answer.ranges, chunk_count)
        except ChunkClaimError as exc:
            banned = faults.fault(link.peer_key, link.host)
            log.warning("%s sent a blob_status for %s that %s: dropped for this blob%s", link.label, blob_id,
                        exc, ", and banned for a while" if banned else "")
            report.dropped[link.label] = f"blob_status {exc}"
            return link, None

    found = await asyncio.gather(*(status(link) for link in links))
    return {link: held for link, held in found if held}


class _Fetch:
    """The shared state of one multi-peer fetch: what is left, in flight, done."""

    def __init__(self, blob_id: str, manifest: Manifest, need: list[int], sources: dict[PeerLink, HeldChunks],
                 local: LocalStore, faults: FaultBook, report: FetchReport, progress: Progress | None):
        self.blob_id = blob_id
        self.manifest = manifest
        self.todo = list(need)               # not asked of anyone, ascending
        self.in_flight: dict[int, set[PeerLink]] = {}
        self.done: set[int] = set()
        self.need = set(need)
        self.sources = sources
        self.writer = local.chunk_writer()
        self.faults = faults
        self.report = report
        self.progress = progress
        self.changed = asyncio.Event()   # a chunk arrived or was given back

    async def run(self) -> None:
        workers = [asyncio.ensure_future(self._worker(link)) for link in list(self.sources)]
        try:
            await asyncio.gather(*workers)
            await self.writer.commit()
        except BaseException:
            for worker in workers:  # one failed for all (our disk is full): the others stop too
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            try:
                await asyncio.shield(self.writer.commit())  # keep what came, for the next attempt
            except StorageError:
                pass  # the error that stopped the fetch says it already
            raise
        left = self.need - self.done
        if left:
            raise FetchError(f"{len(left)} of {len(self.need)} chunks of {self.blob_id} could not be had"
                             + (f" ({'; '.join(f'{k}: {v}' for k, v in self.report.dropped.items())})"
                                if self.report.dropped else ""))

    def _take(self, link: PeerLink, idle: bool) -> int | None:
        """The next chunk for this peer: nobody's yet, else (endgame, only when
        the peer has nothing in flight) the oldest one in flight with a single other peer."""
        held = self.sources[link]
        for position, index in enumerate(self.todo):
            if index in held:
                del self.todo[position]
                return index
        if not idle:
            return None
        for index, askers in self.in_flight.items():
            if index in held and link not in askers and len(askers) == 1:
                return index
        return None

    def _could_help(self, link: PeerLink) -> bool:
        """Is a chunk this peer holds still to come (so it may be given back)?"""
        held = self.sources.get(link)
        if held is None:
            return False
        return any(index in held for index in self.in_flight) or any(index in held for index in self.todo)

    async def _worker(self, link: PeerLink) -> None:
        waiting: dict[asyncio.Future, int] = {}
        try:
            while link in self.sources:
                while len(waiting) < WINDOW:
                    index = self._take(link, idle=not waiting)
                    if index is None:
                        break
                    self.in_flight.setdefault(index, set()).add(link)
                    waiting[await link.ask(WantChunk(self.blob_id, index))] = index
                if not waiting:
                    if not self._could_help(link):
                        return
                    self.changed.clear()
                    await self.changed.wait()
                    continue
                finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    if link not in self.sources:
                        break  # dropped (a bad chunk): one fault per blob; the rest go back below
                    await self._arrived(link, waiting.pop(future), future)
        except StorageError:
            raise  # our disk failed: the whole fetch stops, no peer is blamed
        except ProtocolError as exc:
            # e.g. a chunk whose bytes do not hash to its id: the codec ends the
            # session, and it counts as a fault like a wrong chunk.
            if self.faults.fault(link.peer_key, link.host):
                log.warning("%s banned for a while: %s", link.label, exc)
            self._drop(link, f"session failed: {exc}")
        except TransportError as exc:
            self._drop(link, f"session failed: {exc}")
        finally:
            for future, index in waiting.items():
                future.cancel()
                self._give_back(link, index)

    async def _arrived(self, link: PeerLink, index: int, future: asyncio.Future) -> None:
        answer = future.result()  # a TransportError ends this worker
        askers = self.in_flight.get(index, set())
        askers.discard(link)
        if isinstance(answer, NotFound):
            self.sources[link].discard(index)
            self._give_back(link, index)
            return
        assert isinstance(answer, Block)
        expected = self.manifest.chunks[index]
        if answer.id != expected or len(answer.data) != self.manifest.chunk_length(index):
            self._bad_chunk(link, index)
            return
        if index in self.done:
            self.report.duplicate_bytes += len(answer.data)
            return
        self.done.add(index)
        self.in_flight.pop(index, None)
        self.changed.set()
        await self.writer.add(answer)
        self.report.fetched += 1
        self.report.by_peer[link.label] = self.report.by_peer.get(link.label, 0) + 1
        if self.progress is not None:
            self.progress(self.report.already + len(self.done), self.report.chunks)

    def _bad_chunk(self, link: PeerLink, index: int) -> None:
        banned = self.faults.fault(link.peer_key, link.host)
        log.warning("%s sent a bad chunk %d of %s: dropped for this blob%s", link.label, index,
                    self.blob_id, ", and banned for a while" if banned else "")
        self._give_back(link, index)
        self._drop(link, "sent a bad chunk")

    def _drop(self, link: PeerLink, reason: str) -> None:
        self.report.dropped[link.label] = reason
        self.sources.pop(link, None)

    def _give_back(self, link: PeerLink, index: int) -> None:
        """A chunk this peer will not deliver goes back to the pool (unless done or asked elsewhere)."""
        askers = self.in_flight.get(index)
        if askers is not None:
            askers.discard(link)
            if askers:
                return
            del self.in_flight[index]
        if index not in self.done and index not in self.todo:
            self.todo.append(index)
            self.todo.sort()
        self.changed.set()
