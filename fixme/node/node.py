"""The sync node: sessions with peers, one-off rounds, and the long-running service.

A session (either side may have dialled) goes:

    both:  hello_logs (our heads)                  -> peer
    both:  for each log both carry whose heads we lack: pull (reconcile.py)
    both:  fetch the blocks our records reference and we lack (fetch.py),
           from every peer of this round that has them
    both:  bye; answer the peer until it says bye too; close

The node is general: it carries the record logs it is told to (`logs`) and
asks `accept_author(log, author)` before storing a record. The application
(the tracker) decides both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nacl.signing import SigningKey

from .admission import Admission, ConnectionLimits, peer_host
from .allocator import keep_frame_buffers
from .book import NodeBook, now_ms
from .channel import TransportError
from .fetch import BlobUnavailable, Fault, FaultBook, FetchError, FetchReport, Progress, fetch_blob
from .handshake import Allowed, HandshakeError, Session, connect, serve
from .keys import fingerprint, key_text, parse_key_text
from .local import LocalStore, StorageError
from .messages import MAX_UNTRUSTED_AUTHORS, Bye, Untrusted
from .peer import PeerError, PeerLink, SessionDeadlines, host_port
from .reconcile import AcceptAuthor, pull_log
from .running import RunningLock, StorageLost, directory_identity

log = logging.getLogger("fixme.node")

DEFAULT_PORT = 47250
SYNC_INTERVAL = 30.0        # seconds between rounds with every known peer
WATCH_INTERVAL = 0.5        # how often the running node looks for local changes
STALE_DISCOVERY = 300.0     # seconds: forget a discovered address not heard for this long
MAX_DISCOVERED = 64
# Referenced blocks asked for in one round at most: the rest wait for later rounds, so a
# log full of dangling references costs a round a bounded number of questions.
MAX_REFERENCES_PER_ROUND = 64
PROGRESS_INTERVAL = 0.5     # seconds between two writes of a blob fetch's progress to transfers.json
ADDRESS_BAN_PREFIX = "host:"  # peers.json entries of addresses with faults or a ban (keys are node keys)


@dataclass
class NodeSettings:
    identity: SigningKey
    network_key: bytes
    logs: tuple[str, ...]
    accept_author: AcceptAuthor
    allowed: Allowed = None
    # Node keys given the sessions reserved for the trusted (ConnectionLimits.reserved_for_trusted),
    # and kept rather than strangers when the server is full; None: nobody is told apart.
    is_trusted: Callable[[bytes], bool] | None = None
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    deadlines: SessionDeadlines = field(default_factory=SessionDeadlines)
    handshake_timeout: float = 10.0
    idle_timeout: float = 60.0
    fetch_references: bool = True     # fetch the blobs our records reference


@dataclass
class SessionReport:
    address: str
    peer_key: str = ""                  # "ed25519:…", once the handshake told us
    records_in: int = 0                 # records stored
    records_out: int = 0                # records sent
    refused: list[str] = field(default_factory=list)   # "id: reason"
    untrusted: dict[str, int] = field(default_factory=dict)        # we refused: author -> records
    refused_by_peer: dict[str, int] = field(default_factory=dict)  # the peer refused (its bye said so)
    waiting: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    error: str | None = None

    @property
    def peer(self) -> str:
        return fingerprint(bytes.fromhex(self.peer_key.split(":", 1)[1])) if self.peer_key else "?"


@dataclass
class RoundReport:
    sessions: list[SessionReport] = field(default_factory=list)
    blobs: list[FetchReport] = field(default_factory=list)
    blob_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # about our own store, whatever the peers did

    @property
    def reached(self) -> int:
        return sum(1 for s in self.sessions if s.error is None)


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """"host:port", "host" or "[v6]:port" -> (host, port); ValueError with a reason.
    (Port 0, to listen on, means any free port.)"""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"not an address: {text!r} (expected HOST:PORT)")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(f"not a port: {port_text!r} in {text!r}")
    return host, int(port_text)


class Node:
    def __init__(self, node_dir: Path, settings: NodeSettings):
        keep_frame_buffers()  # a frame's buffers would page-fault afresh each time: half the blob rate
        self.settings = settings
        self.local = LocalStore(node_dir, settings.logs)
        self.book = NodeBook(node_dir)
        keys, addresses = self._remembered_bans()
        self.faults = FaultBook(banned_until=keys, address_banned_until=addresses, on_fault=self._remember_fault)
        self.key = settings.identity.verify_key.encode()
        self._upload: _RateLimit | None = None

    def _remembered_bans(self) -> tuple[dict[bytes, float], dict[str, float]]:
        """Bans still running, of keys and of addresses, from peers.json: a restart must not lift them."""
        now, keys, addresses = time.time(), {}, {}
        for name, info in self.book.peers().items():
            until = info.get("banned_until")
            if not isinstance(until, (int, float)) or until / 1000 <= now:
                continue
            if name.startswith(ADDRESS_BAN_PREFIX):
                addresses[name[len(ADDRESS_BAN_PREFIX):]] = until / 1000
                continue
            try:
                keys[parse_key_text(name)] = until / 1000
            except ValueError:
                continue   # an "address:" entry of a peer never reached, or a damaged one
        return keys, addresses

    def _remember_fault(self, fault: Fault) -> None:
        self.book.record_contact(key_text(fault.key), **_fault_fields(fault.key_banned_until))
        if fault.address is not None:
            self.book.record_contact(ADDRESS_BAN_PREFIX + fault.address, address=fault.address,
                                     **_fault_fields(fault.address_banned_until))

    def set_upload_rate(self, bytes_per_second: float) -> None:
        """Cap the rate at which blob chunks are served (all peers together)."""
        self._upload = _RateLimit(bytes_per_second)

    async def _answer(self, request):
        answers = await self.local.answer(request)
        if self._upload is not None:
            await self._upload.take(sum(len(a) for a in answers if isinstance(a, bytes)))
        return answers

    def close(self) -> None:
        self.local.close()

    # -- one session -----------------------------------------------------------
    async def _open_link(self, session: Session) -> PeerLink:
        """A running link that has sent our hello; on failure, nothing is left running."""
        link = PeerLink(session, self._answer, deadlines=self.settings.deadlines)
        link.start()
        try:
            await link.send_hello(await self.local.hello())
        except BaseException:
            await link.close()
            raise
        return link

    async def _pull(self, link: PeerLink, report: SessionReport) -> None:
        for entry in await link.peer_hello():
            if entry.name not in self.local.logs:
                continue  # a log we do not carry
            pulled = await pull_log(link, self.local, entry.name, entry.heads, self.settings.accept_author)
            report.records_in += pulled.added
            report.waiting += pulled.waiting
            report.refused.extend(f"{rid}: {why}" for rid, why in pulled.refused)
            for author, count in pulled.untrusted.items():
                report.untrusted[author] = report.untrusted.get(author, 0) + count
            for rid, why in pulled.refused[:20]:
                log.warning("refused record %s from %s: %s", rid[:19], link.label, why)

    async def _fetch(self, links: list[PeerLink], blob_ids: Iterable[str], result: RoundReport,
                     progress: Progress | None, references: bool,
                     expected_sizes: Mapping[str, int] | None = None) -> None:
        wanted = list(dict.fromkeys(blob_ids))
        referenced: list[str] = []
        if references:
            try:
                missing = [b for b in await self.local.referenced_blocks_missing() if b not in wanted]
            except StorageError as exc:  # our block store is damaged: say so, fetch what was asked
                result.blob_errors.append(f"cannot tell which attachments are missing: {exc}")
                missing = []
            referenced = self.book.references_due(missing, now_ms())[:MAX_REFERENCES_PER_ROUND]
        live = [link for link in links if link.failure is None]
        unavailable: list[str] = []
        for blob_id in wanted + referenced:
            track = _TransferProgress(self.book, blob_id, len(live), progress)
            try:
                result.blobs.append(await fetch_blob(blob_id, live, self.local, self.faults, track,
                                                     (expected_sizes or {}).get(blob_id)))
            except BlobUnavailable as exc:
                if blob_id in wanted:
                    result.blob_errors.append(str(exc))
                    log.warning("blob %s: %s", blob_id[:19], exc)
                else:
                    unavailable.append(blob_id)
            except FetchError as exc:
                result.blob_errors.append(str(exc))
                log.warning("blob %s: %s", blob_id[:19], exc)
            finally:
                track.finished()
        self._remember_unavailable(unavailable, result)

    def _remember_unavailable(self, blobs: list[str], result: RoundReport) -> None:
        """Referenced blocks no peer has: one line for all of them, and a back-off before
        they are asked for again (a log full of dangling references must not make every
        round ask for every one of them)."""
        if not blobs:
            return
        self.book.references_unavailable(blobs, now_ms())
        summary = (f"{len(blobs)} block{'s' if len(blobs) != 1 else ''} our records reference "
                   f"(e.g. {blobs[0][:19]}…) no peer has; asking again later")
        result.blob_errors.append(summary)
        log.warning("%s", summary)

    async def _finish(self, link: PeerLink, report: SessionReport, dialled: bool = True) -> None:
        try:
            await link.finish(_bye(report))
        except TransportError as exc:
            if report.error is None:  # not yet logged by _pull_safely: say why the session ended
                report.error = _failure(exc, self.settings.idle_timeout)
                log.warning("session with %s: %s", link.label, report.error)
        finally:
            self._account(link, report, dialled)

    def _account(self, link: PeerLink, report: SessionReport, dialled: bool = True) -> None:
        report.records_out = link.stats.records_out
        if link.peer_bye is not None:
            report.refused_by_peer = {u.author: u.count for u in link.peer_bye.untrusted}
        report.bytes_in, report.bytes_out = link.stats.bytes_in, link.stats.bytes_out
        # A peer that dialled us comes from a passing port: not an address to dial back.
        where = {"address": report.address} if dialled else {"incoming_from": report.address}
        self.book.record_contact(key_text(link.peer_key), **where, last_contact=now_ms(),
                                 last_error=report.error, records_in=report.records_in,
                                 records_out=report.records_out, bytes_in=report.bytes_in,
                                 bytes_out=report.bytes_out)

    # -- rounds ----------------------------------------------------------------
    async def sync(self, addresses: Iterable[str], blob_ids: Iterable[str] = (),
                   progress: Progress | None = None, references: bool | None = None,
                   on_session_end: Callable[[SessionReport], None] | None = None,
                   expected_sizes: Mapping[str, int] | None = None) -> RoundReport:
        """One round with every address: records both ways, then `blob_ids` and (if
        `references`, by default settings.fetch_references) the blobs our records reference.

        Each session pulls at its own pace, and its records are stored as soon
        as they are in. The blob fetch is shared: it starts once every session
        has pulled or ended, so every peer that has a blob serves part of it,
        and a blob referenced by one peer's records can come from another.
        Every step of a session has a deadline (SessionDeadlines), so a round
        lasts about as long as its slowest peer within those deadlines.
        `on_session_end(report)` is told of each session as it ends; `expected_sizes`:
        blob id -> the size it must have (see fetch_blob).
        """
        result = RoundReport()
        await self._check_heads(result)
        addresses, blob_ids = list(dict.fromkeys(addresses)), list(blob_ids)
        if references is None:
            references = self.settings.fetch_references
        fetch = _RoundFetch(addresses, lambda links: self._fetch(links, blob_ids, result, progress, references,
                                                                expected_sizes))
        result.sessions = list(await asyncio.gather(*(self._session(address, fetch, on_session_end)
                                                      for address in addresses)))
        if not fetch.ran:   # nobody to fetch from: say so for each blob wanted
            await self._fetch([], blob_ids, result, progress, references, expected_sizes)
        return result

    async def _check_heads(self, result: RoundReport) -> None:
        """Warn when records.db names heads whose blocks are gone (the block store was lost or
        damaged): we would announce records no peer can get from us, and say nothing."""
        try:
            lost = await self.local.missing_heads()
        except StorageError as exc:
            lost, why = [], str(exc)
        else:
            why = ""
        if lost:
            why = (f"{len(lost)} record{'s' if len(lost) != 1 else ''} this node's log ends with "
                   f"({lost[0][:19]}…) {'are' if len(lost) != 1 else 'is'} missing from its block store: "
                   "peers cannot get them from here")
        if why:
            result.warnings.append(f"{why}; run 'fixme fsck' (and 'fixme fsck --repair --from HOST:PORT')")
            log.warning("%s", result.warnings[-1])

    async def _session(self, address: str, fetch: _RoundFetch,
                       on_end: Callable[[SessionReport], None] | None) -> SessionReport:
        """One peer's part of a round: dial, pull, the shared fetch, bye."""
        report = SessionReport(address)
        link: PeerLink | None = None
        try:
            link = await self._dial(address, report)
            if link is not None:
                await self._pull_safely(link, report)
                if link.failure is None:
                    await fetch.join(address, link)
        finally:
            fetch.skip(address)            # however this session went, the fetch no longer waits for it
        try:
            if link is not None:
                await self._finish(link, report)
        finally:
            if link is not None:
                await link.close()         # even if cancelled: no task of the link is left behind
        if on_end is not None:
            on_end(report)
        return report

    async def _dial(self, address: str, report: SessionReport) -> PeerLink | None:
        """A link with the peer at `address` that has sent our hello, or None (report.error says why)."""
        try:
            host, port = parse_address(address)
            if self.faults.is_address_banned(peer_host((host,))):
                report.error = "address banned for sending bad data"
                return None
            session = await connect(host, port, self.settings.identity, self.settings.network_key,
                                    allowed=self.settings.allowed, timeout=self.settings.handshake_timeout,
                                    idle_timeout=self.settings.idle_timeout)
        except (HandshakeError, ValueError) as exc:
            report.error = _failure(exc, self.settings.handshake_timeout)
            log.info("%s: %s", address, report.error)
            self.book.record_contact(f"address:{address}", address=address, last_attempt=now_ms(),
                                     last_error=report.error)
            return None
        report.peer_key = key_text(session.peer_key)
        banned_address = self.faults.is_address_banned(peer_host(session.peer_address))   # a name may hide it
        if self.faults.is_banned(session.peer_key) or banned_address:
            report.error = "banned for sending bad data"
            await session.close()
            return None
        try:
            return await self._open_link(session)
        except TransportError as exc:
            report.error = _failure(exc, self.settings.idle_timeout)
            return None

    async def _pull_safely(self, link: PeerLink, report: SessionReport) -> None:
        try:
            await self._pull(link, report)
        except TransportError as exc:
            report.error = _failure(exc, self.settings.idle_timeout)
            log.warning("session with %s: %s", link.label, report.error)
            await link.abort(str(exc))

    async def handle_incoming(self, session: Session) -> None:
        """Serve a peer that dialled us: the same round, from our side.
        (Its key and address were checked against bans before the session began: see serve().)"""
        address = host_port(session.peer_address)
        report = SessionReport(address, key_text(session.peer_key))
        link = await self._open_link(session)
        try:
            await self._pull_safely(link, report)
            if link.failure is None:
                await self._fetch([link], (), RoundReport(), None, self.settings.fetch_references)
                await self._finish(link, report, dialled=False)
            else:
                self._account(link, report, dialled=False)
        finally:
            await link.close()   # an early end (an error, the server shutting down) leaves no task behind
        if report.records_in:
            log.info("%s: %d records in, %d out", link.label, report.records_in, report.records_out)

    def admission(self) -> Admission:
        """The server's budgets, told who is trusted and who is banned."""
        return Admission(self.settings.limits, is_trusted=self.settings.is_trusted,
                         is_banned_address=self.faults.is_address_banned, is_banned_key=self.faults.is_banned)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await serve(host, port, self.settings.identity, self.settings.network_key,
                           self.handle_incoming, allowed=self.settings.allowed, admission=self.admission(),
                           handshake_timeout=self.settings.handshake_timeout,
                           idle_timeout=self.settings.idle_timeout)

    # -- the long-running node ---------------------------------------------------
    async def run(self, listen: tuple[str, int], peers: Iterable[str], *, discovery: bool = True,
                  discovery_port: int | None = None, interval: float = SYNC_INTERVAL) -> None:
        """Serve, sync with peers now, on every local change and every `interval`; until SIGINT/SIGTERM."""
        runner = _Runner(self, list(peers), interval)
        lock = RunningLock(self.book.node_dir)
        lock.acquire()   # AlreadyRunning: another node serves this directory
        try:
            await runner.run(listen, discovery, discovery_port)
        finally:
            lock.release()
        if runner.storage_lost:
            raise StorageLost(runner.storage_lost)


def _fault_fields(banned_until: float) -> dict[str, int]:
    """A fault as peers.json counts it: one more, and the end of the ban it started (if it did)."""
    fields = {"faults": 1}
    if banned_until:
        fields["banned_until"] = int(banned_until * 1000)
    return fields


class _RoundFetch:
    """The blob fetch of one round, done once, with the links of every session that got that far.

    It starts when no session of the round is still on its way to it: each has
    joined or ended. Each session's steps have deadlines, so the wait is
    bounded by the slowest peer within its deadlines.
    """

    def __init__(self, addresses: list[str], run: Callable[[list[PeerLink]], Awaitable[None]]):
        self._on_the_way = set(addresses)
        self._links: list[PeerLink] = []
        self._run = run
        self._task: asyncio.Task | None = None
        self._started = asyncio.Event()

    @property
    def ran(self) -> bool:
        return self._task is not None

    async def join(self, address: str, link: PeerLink) -> None:
        """Take part with `link`, and wait until the fetch is over."""
        self._links.append(link)
        self.skip(address)
        await self._started.wait()
        assert self._task is not None
        await asyncio.shield(self._task)

    def skip(self, address: str) -> None:
        """The session with `address` will not (or no longer) keep the fetch waiting."""
        self._on_the_way.discard(address)
        if not self._on_the_way and self._links and self._task is None:
            self._task = asyncio.create_task(self._run(list(self._links)), name="round fetch")
            self._started.set()


class _Runner:
    """The loop of `fixme node run`."""

    def __init__(self, node: Node, peers: list[str], interval: float):
        self.node = node
        self.peers = dict.fromkeys(peers)
        self.configured = set(peers)
        self.discovered: dict[str, float] = {}     # address -> when last heard
        self.interval = interval
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.busy: dict[str, object] = {}          # address -> the round it is in a session of now
        self.suspect: set[str] = set()             # addresses whose last session failed
        self.rounds: set[asyncio.Task] = set()
        self.storage_lost: str | None = None      # why the node stopped on its own

    async def run(self, listen: tuple[str, int], discovery: bool, discovery_port: int | None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        server = await self.node.serve(*listen)
        port = server.sockets[0].getsockname()[1]
        log.info("listening on %s:%d as %s", listen[0], port, fingerprint(self.node.key))
        self.node.book.set_running({"pid": os.getpid(), "listen": f"{listen[0]}:{port}", "since": now_ms(),
                                    "discovery": discovery, "node_key": key_text(self.node.key)})
        announcer = await self._start_discovery(port, discovery_port) if discovery else None
        tasks = [asyncio.create_task(self._sync_loop()), asyncio.create_task(self._watch_local()),
                 asyncio.create_task(self._watch_storage())]
        try:
            await self.stop.wait()
            log.info("stopping")
        finally:
            tasks += self.rounds
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if announcer is not None:
                await announcer.stop()
            server.close()
            await server.wait_closed()
            if self.storage_lost is None:   # else writing running.json would make the directory again
                self.node.book.set_running(None)

    async def _start_discovery(self, tcp_port: int, discovery_port: int | None):
        from .discovery import DEFAULT_DISCOVERY_PORT, Discovery

        def heard(host: str, port: int, key: bytes) -> None:
            if not self._may_dial(key):
                return
            address = f"{host}:{port}"
            if address not in self.peers:
                log.info("discovered %s at %s", fingerprint(key), address)
                self._forget_stale_discoveries()
                self.peers[address] = None
            self.discovered[address] = loop_time()
            self.node.book.record_contact(key_text(key), address=address, discovered=True, last_heard=now_ms())
            self.wake.set()

        loop_time = asyncio.get_running_loop().time

        announcer = Discovery(self.node.key, tcp_port, self.node.settings.network_key, heard,
                              port=discovery_port or DEFAULT_DISCOVERY_PORT)
        try:
            await announcer.start()
        except OSError as exc:
            log.warning("LAN discovery is off: %s", exc)
            return None
        return announcer

    def _may_dial(self, key: bytes) -> bool:
        allowed = self.node.settings.allowed
        if allowed is None:
            return True
        if callable(allowed):
            return bool(allowed(key))
        return key in {bytes(k) for k in allowed}

    def _forget_stale_discoveries(self) -> None:
        """Drop discovered addresses not heard for a while, and keep at most MAX_DISCOVERED:
        announcements are unauthenticated, so they must not grow the peer list for ever."""
        now = asyncio.get_running_loop().time()
        for address, heard in list(self.discovered.items()):
            if now - heard > STALE_DISCOVERY or len(self.discovered) > MAX_DISCOVERED:
                del self.discovered[address]
                if address not in self.configured:
                    self.peers.pop(address, None)
                    self.suspect.discard(address)

    async def _sync_loop(self) -> None:
        while True:
            self._start_rounds()
            self.wake.clear()
            try:
                async with asyncio.timeout(self.interval):
                    await self.wake.wait()
            except TimeoutError:
                pass

    def _start_rounds(self) -> None:
        """Rounds with every peer not in a session already: one with the peers whose last
        session went well, and one of its own for each peer whose last session failed.

        Rounds overlap, and a round's fetch waits for all its sessions: so a
        peer that stalls (until its deadlines end it) holds up the others once,
        and from then on only itself, until a session with it goes well again.
        """
        idle = [address for address in self.peers if address not in self.busy]
        healthy = [address for address in idle if address not in self.suspect]
        for group in ([healthy] if healthy else []) + [[a] for a in idle if a in self.suspect]:
            self._start_round(group)

    def _start_round(self, addresses: list[str]) -> None:
        this_round = object()
        self.busy.update(dict.fromkeys(addresses, this_round))
        task = asyncio.create_task(self.node.sync(
            addresses, on_session_end=lambda session: self._session_ended(session, this_round)))
        self.rounds.add(task)
        task.add_done_callback(lambda done: self._round_ended(done, this_round))

    def _free(self, address: str, this_round: object) -> None:
        if self.busy.get(address) is this_round:
            del self.busy[address]

    def _session_ended(self, session: SessionReport, this_round: object) -> None:
        self._free(session.address, this_round)
        if session.error is None:
            self.suspect.discard(session.address)
        else:
            self.suspect.add(session.address)
        if session.error is None and (session.records_in or session.records_out):
            log.info("%s: %d records in, %d out", session.address, session.records_in, session.records_out)
        elif session.error is not None:
            log.info("%s: %s", session.address, session.error)

    def _round_ended(self, task: asyncio.Task, this_round: object) -> None:
        self.rounds.discard(task)
        for address in list(self.busy):   # even if the round failed before its sessions ended
            self._free(address, this_round)
        if not task.cancelled() and task.exception() is not None:
            log.error("sync round failed", exc_info=task.exception())

    async def _watch_storage(self) -> None:
        """The directory deleted (`rm -rf .fixme`) or replaced: stop, with one log line.

        A node whose store is gone would serve nothing and recreate stray
        directories on its next write; better to end and say why.
        """
        directory = self.node.book.node_dir
        identity = directory_identity(directory)
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if directory_identity(directory) != identity:
                self.storage_lost = f"{directory} was deleted or replaced: stopping"
                log.error("%s", self.storage_lost)
                self.stop.set()
                return

    async def _watch_local(self) -> None:
        """Another process (`fixme set-workflow`) wrote a record: sync at once."""
        last = await self.node.local.hello()
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            current = await self.node.local.hello()
            if current != last:
                last = current
                self.wake.set()


def _failure(exc: BaseException, seconds: float) -> str:
    """What ended a session, in words. Every timeout (connect, handshake, a silent
    peer) reads the same, 'timed out after N s', as `fixme sync --timeout` does."""
    if isinstance(exc, PeerError):
        return str(exc)  # a session deadline names what was late and its own limit
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return f"timed out after {seconds:g} s"
    return str(exc)


def _bye(report: SessionReport) -> Bye:
    """Our bye: which authors' records we refused this session, the most refused first
    if there are more than a bye can name (docs/protocol.md, Ending)."""
    counts = sorted(report.untrusted.items(), key=lambda item: (-item[1], item[0]))[:MAX_UNTRUSTED_AUTHORS]
    return Bye(tuple(Untrusted(author, count) for author, count in sorted(counts)))


class _TransferProgress:
    """A blob fetch's progress, for `node status` (transfers.json) and the caller's `progress`.

    The file is rewritten (and fsynced, on the event loop) at most every
    PROGRESS_INTERVAL: every 8 chunks, as it was, is ~40 times a second at
    300 MiB/s.
    """

    def __init__(self, book: NodeBook, blob_id: str, peers: int, progress: Progress | None):
        self._book = book
        self._blob_id = blob_id
        self._progress = progress
        self._info = {"pid": os.getpid(), "held": 0, "chunks": 0, "peers": peers, "started": now_ms()}
        self._book.set_transfer(blob_id, self._info)
        self._written = time.monotonic()

    def __call__(self, held: int, total: int) -> None:
        if self._progress is not None:
            self._progress(held, total)
        if time.monotonic() - self._written >= PROGRESS_INTERVAL:
            self._info.update(held=held, chunks=total)
            self._book.set_transfer(self._blob_id, self._info)
            self._written = time.monotonic()

    def finished(self) -> None:
        self._book.set_transfer(self._blob_id, None)


class _RateLimit:
    """A token bucket: take(n) waits until n more bytes fit the rate (bursts up to one second's worth)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.tokens = rate
        self.stamp = 0.0

    async def take(self, amount: int) -> None:
        if not amount:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate) if self.stamp else self.tokens
        self.stamp = now
        self.tokens -= amount
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)
