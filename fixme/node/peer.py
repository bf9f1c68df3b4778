"""One sync session with a peer, used in both directions at once.

Both sides of a session are clients and servers at the same time: each asks
for what it lacks (want_records, have_blob, want_chunk, want_block) and
answers what the other asks. A PeerLink runs the two halves:

- a reader task that takes every incoming message and either queues it as a
  request for our answering task, or hands it to the request of ours it
  answers (answers come back in the order the requests were sent);
- an answering task that serves the peer's requests in order through an
  `Answerer` (the node's storage side), preparing the next answer while the
  previous one is being sent.

A peer may have at most MAX_OUTSTANDING requests unanswered; one more is a
protocol violation and ends the session. `bye` says "I will ask for nothing
more"; the session ends once both sides have said it and every request has
been answered. Anything unexpected ends this session only, with a reason.

Every step that waits for the peer has a deadline of its own (SessionDeadlines):
its hello_logs, each answer to a request of ours, and its bye after ours. So
a session with a peer that stalls ends in bounded time, whatever the peer
does, and never holds up sessions with other peers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .admission import peer_host
from .channel import ChannelClosed, TransportError
from .handshake import Session
from .keys import fingerprint
from .messages import (
    BlobStatus,
    Block,
    Bye,
    Error,
    HaveBlob,
    HelloLogs,
    MAX_IDS_PER_MESSAGE,
    LogHeads,
    Message,
    NotFound,
    ProtocolError,
    Records,
    WantBlock,
    WantChunk,
    WantRecords,
    decode_message,
    encode_message,
    message_name,
)

log = logging.getLogger(__name__)

MAX_OUTSTANDING = 64            # requests a peer may have unanswered at once
MAX_HELLO_MESSAGES = 64         # hello_logs frames in one announcement (more=true chains)

REQUESTS = (WantRecords, HaveBlob, WantChunk, WantBlock)
# Answers are messages, or payloads already encoded (big blocks, see encode_checked_block).
Answerer = Callable[[Message], Awaitable[list["Message | bytes"]]]


class PeerError(TransportError):
    """The peer broke the protocol or the session ended before our answer came."""


@dataclass(frozen=True)
class SessionDeadlines:
    """Seconds a peer may take over each step of a session; past one, the session ends."""

    hello: float = 10.0     # its hello_logs, from the start of the session (honest peers send it at once)
    answer: float = 60.0    # each answer to a request of ours, from when it is the oldest unanswered one
    bye: float = 60.0       # its bye after ours, not counting the time we spend answering it
    # ... and this much more per record we sent it: it stores what it pulled
    # before it says bye (~30 us a record here; 400,000 records: 100 s more).
    bye_per_record: float = 0.00025


@dataclass
class RecordsAnswer:
    blocks: list[Block]
    missing: tuple[str, ...]


@dataclass
class _Waiting:
    request: Message
    future: asyncio.Future
    since: float = 0.0            # when it became the oldest request unanswered (its deadline runs from then)
    expected: int = -1            # blocks still to come after a `records` header
    blocks: list[Block] = field(default_factory=list)
    missing: tuple[str, ...] = ()  # what the `records` header said the peer lacks


@dataclass
class LinkStats:
    bytes_in: int = 0
    bytes_out: int = 0
    messages_in: int = 0
    messages_out: int = 0
    records_out: int = 0          # record blocks we sent in answers to want_records


class PeerLink:
    """Requests and answers over one authenticated session."""

    def __init__(self, session: Session, answer: Answerer, *, max_outstanding: int = MAX_OUTSTANDING,
                 deadlines: SessionDeadlines = SessionDeadlines()):
        self.session = session
        self.peer_key = session.peer_key
        self.host = peer_host(session.peer_address)   # what faults and bans by address count
        self.deadlines = deadlines
        self.label = f"{host_port(session.peer_address)} ({fingerprint(session.peer_key)})"
        self.stats = LinkStats()
        self._answer = answer
        self._requests: asyncio.Queue[Message] = asyncio.Queue()
        self._max_outstanding = max_outstanding
        self._waiting: deque[_Waiting] = deque()
        self._peer_logs: list[LogHeads] = []
        self._hello_frames = 0
        self._peer_hello: asyncio.Future[tuple[LogHeads, ...]] = asyncio.get_running_loop().create_future()
        self._peer_bye = asyncio.Event()
        self.peer_bye: Bye | None = None   # the peer's bye, once it came: what it refused of ours
        self._slots = asyncio.Semaphore(max_outstanding)
        self._failure: BaseException | None = None
        self._failed = asyncio.Event()
        self._reader_done: PeerError | None = None      # the peer closed cleanly: nothing more will come
        self._tasks: list[asyncio.Task] = []
        self._started = 0.0
        self._read_deadline: asyncio.Timeout | None = None
        self._unanswered = 0                           # the peer's requests not yet answered in full
        self._stirred = asyncio.Event()                # a request came, an answer went, or the bye came

    # -- life cycle ----------------------------------------------------------
    def start(self) -> None:
        self._started = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._read_loop(), name=f"read {self.label}"),
                       asyncio.create_task(self._answer_loop(), name=f"answer {self.label}")]

    async def finish(self, bye: Bye = Bye()) -> None:
        """Say `bye`, serve the peer until it says bye too, then close (whatever happens)."""
        try:
            await self.send(bye)
            await self._await_peer_bye()
            await self._wait_or_fail(self._requests.join())
        except TransportError as exc:
            await self.abort(str(exc))
            raise
        finally:
            await self.close()

    async def _await_peer_bye(self) -> None:
        """Wait for the peer's bye. Time we spend answering it is free (it is getting
        what it came for); time it leaves us with nothing to do counts against
        deadlines.bye. So a peer that asks for something now and then, and
        never says bye, cannot keep the session for ever. A peer that pulled
        many records is given time to store them (deadlines.bye_per_record)."""
        loop = asyncio.get_running_loop()
        waited = 0.0
        while not self._peer_bye.is_set():
            self._stirred.clear()
            if self._unanswered:
                await self._wait_or_fail(self._stirred.wait())
                continue
            allowance = self.deadlines.bye + self.deadlines.bye_per_record * self.stats.records_out
            began = loop.time()
            try:
                async with asyncio.timeout(max(allowance - waited, 0.0)):
                    await self._wait_or_fail(self._stirred.wait())
            except TimeoutError:
                self._fail(PeerError(f"no bye within {allowance:g} s of waiting"))
                raise self._failure from None
            waited += loop.time() - began

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail(PeerError("session closed"))
        await self.session.close()

    async def abort(self, reason: str) -> None:
        """Tell the peer why (best effort) and close."""
        if not self.session.channel.is_closed:
            try:
                async with asyncio.timeout(1.0):
                    await self.send(Error(reason[:1024]))
            except (TransportError, TimeoutError):
                pass
        await self.close()

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    # -- sending -------------------------------------------------------------
    async def send(self, msg: Message | bytes) -> None:
        await self.session.send(self._payload(msg))

    async def send_all(self, msgs: list[Message | bytes]) -> None:
        """Several messages in one write (an answer): see SecureChannel.send_many."""
        await self.session.send_many([self._payload(msg) for msg in msgs])

    def _payload(self, msg: Message | bytes) -> bytes:
        """The message encoded (unless it already is), and counted as sent."""
        payload = msg if isinstance(msg, bytes) else encode_message(msg)
        if isinstance(msg, Records):
            self.stats.records_out += msg.count
        self.stats.bytes_out += len(payload)
        self.stats.messages_out += 1
        return payload

    async def send_hello(self, logs: list[LogHeads]) -> None:
        """Our logs and their heads, split over frames of at most 1024 logs."""
        parts = [logs[i:i + MAX_IDS_PER_MESSAGE] for i in range(0, len(logs), MAX_IDS_PER_MESSAGE)] or [[]]
        for number, part in enumerate(parts):
            await self.send(HelloLogs(tuple(part), more=number < len(parts) - 1))

    async def peer_hello(self) -> tuple[LogHeads, ...]:
        return await self._wait_or_fail(self._peer_hello)

    async def request(self, msg: Message) -> Message | RecordsAnswer:
        """Send one request and wait for its answer."""
        return await self.wait(await self.ask(msg))

    async def ask(self, msg: Message) -> asyncio.Future:
        """Send one request without waiting for the answer (pipelining).

        Waits for a free slot first: never more than max_outstanding requests
        of ours are unanswered, the limit the peer enforces.
        """
        await self._wait_or_fail(self._slots.acquire())
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        future.add_done_callback(lambda _: self._slots.release())
        if self._failure is not None or self._reader_done is not None:
            future.cancel()
            raise self._failure or self._reader_done
        self._waiting.append(_Waiting(msg, future, loop.time()))
        if len(self._waiting) == 1:
            self._rearm()
        await self.send(msg)
        return future

    async def wait(self, future: asyncio.Future):
        return await self._wait_or_fail(future)

    async def _wait_or_fail(self, awaitable: Awaitable):
        """Await, but give up with the link's failure if the session breaks first.

        A future is waited for, never cancelled (others may wait for it too);
        a coroutine becomes a task that is cancelled if the session breaks.
        """
        if self._failure is not None:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise self._failure
        is_future = asyncio.isfuture(awaitable)
        task = awaitable if is_future else asyncio.ensure_future(awaitable)
        failed = asyncio.ensure_future(self._failed.wait())
        try:
            done, _ = await asyncio.wait([task, failed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Whatever ends the wait (the session failing, our caller's deadline or
            # cancellation), no helper task is left pending behind it.
            failed.cancel()
            if not is_future and not task.done():
                task.cancel()
        if task in done:
            return task.result()
        raise self._failure or PeerError("session ended")

    # -- the reader ------------------------------------------------------------
    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(None) as self._read_deadline:
                        self._rearm()
                        payload = await self.session.recv()
                except TimeoutError:
                    raise PeerError(self._overdue()) from None
                finally:
                    self._read_deadline = None
                self.stats.bytes_in += len(payload)
                self.stats.messages_in += 1
                self._dispatch(decode_message(payload))
        except ChannelClosed:
            if not self._peer_hello.done():
                self._fail(PeerError("peer closed the session before its hello_logs"))
            elif not (self._peer_bye.is_set() and not self._waiting):
                self._fail(PeerError("peer closed the session early"))
            else:
                self._reader_done = PeerError("peer closed the session")
        except TransportError as exc:
            self._fail(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of ours must end this session, not the node
            log.exception("session with %s failed", self.label)
            self._fail(PeerError(f"internal error: {exc}"))

    def _deadline(self) -> float | None:
        """When the peer must have sent its next frame: its hello, or the answer to
        our oldest request, whichever is due first; None while we wait for nothing."""
        due = []
        if not self._peer_hello.done():
            due.append(self._started + self.deadlines.hello)
        if self._waiting:
            due.append(self._waiting[0].since + self.deadlines.answer)
        return min(due, default=None)

    def _overdue(self) -> str:
        if not self._peer_hello.done():
            return f"no hello_logs within {self.deadlines.hello:g} s"
        return f"no answer to {message_name(self._waiting[0].request)} within {self.deadlines.answer:g} s"

    def _rearm(self) -> None:
        """Move the reader's deadline to what is due now (from the reader, or a task asking)."""
        if self._read_deadline is not None:
            self._read_deadline.reschedule(self._deadline())

    def _dispatch(self, msg: Message) -> None:
        if isinstance(msg, Bye) and not self._peer_hello.done():
            # hello_logs precedes bye (docs/protocol.md, Sessions): else we
            # would wait for heads that never come.
            raise ProtocolError("bye before hello_logs")
        if isinstance(msg, REQUESTS):
            if self._peer_bye.is_set():
                raise ProtocolError(f"{message_name(msg)} after bye")
            if self._requests.qsize() >= self._max_outstanding:
                raise ProtocolError(f"more than {self._max_outstanding} requests outstanding")
            self._requests.put_nowait(msg)
            self._unanswered += 1
            self._stirred.set()
        elif isinstance(msg, HelloLogs):
            self._take_hello(msg)
        elif isinstance(msg, Bye):
            self.peer_bye = msg
            self._peer_bye.set()
            self._stirred.set()
        elif isinstance(msg, Error):
            raise PeerError(f"peer reported an error: {msg.reason[:200]}")
        else:
            self._take_answer(msg)

    def _take_hello(self, msg: HelloLogs) -> None:
        self._hello_frames += 1
        if self._hello_frames > MAX_HELLO_MESSAGES:
            raise ProtocolError(f"more than {MAX_HELLO_MESSAGES} hello_logs frames")
        self._peer_logs.extend(msg.logs)
        if not msg.more:
            names = [entry.name for entry in self._peer_logs]
            if len(set(names)) != len(names):
                raise ProtocolError("hello_logs: a log is listed twice")
            if not self._peer_hello.done():
                self._peer_hello.set_result(tuple(self._peer_logs))
            self._peer_logs, self._hello_frames = [], 0

    def _take_answer(self, msg: Message) -> None:
        if not self._waiting:
            raise ProtocolError(f"unsolicited {message_name(msg)}")
        head = self._waiting[0]
        if head.expected >= 0:                     # inside a records answer
            if not isinstance(msg, Block):
                raise ProtocolError(f"{message_name(msg)} inside a records answer")
            head.blocks.append(msg)
            head.expected -= 1
        elif isinstance(head.request, WantRecords):
            if not isinstance(msg, Records):
                raise ProtocolError(f"{message_name(msg)} in answer to want_records")
            if not set(msg.missing) <= set(head.request.ids):
                raise ProtocolError("records.missing names an id that was not asked for")
            head.expected = msg.count
            head.missing = msg.missing
        else:
            _check_answer(head.request, msg)
            self._resolve(msg)
            return
        if head.expected == 0:
            self._resolve(RecordsAnswer(head.blocks, head.missing))

    def _resolve(self, value: object) -> None:
        head = self._waiting.popleft()
        if self._waiting:   # the next one's deadline runs from now: answers come one after another
            self._waiting[0].since = asyncio.get_running_loop().time()
        if not head.future.done():
            head.future.set_result(value)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            self._failed.set()
        while self._waiting:
            head = self._waiting.popleft()
            if not head.future.done():
                head.future.set_exception(self._failure)
                head.future.exception()  # retrieved: a failure nobody awaits is not "never retrieved"

    # -- the answering half ----------------------------------------------------
    async def _answer_loop(self) -> None:
        # While one answer is sealed and sent (on this loop), the next is
        # already being read from storage (on the storage thread): a peer
        # fetching chunks gets them at the rate of the slower of the two,
        # not of both together. Answers still go out in request order.
        upcoming: asyncio.Future | None = None
        try:
            while True:
                if upcoming is None:
                    upcoming = asyncio.ensure_future(self._answer(await self._requests.get()))
                answer = await upcoming
                upcoming = None
                if not self._requests.empty():
                    upcoming = asyncio.ensure_future(self._answer(self._requests.get_nowait()))
                try:
                    await self.send_all(answer)
                finally:
                    self._requests.task_done()
                    self._unanswered -= 1
                    self._stirred.set()
        except TransportError as exc:
            self._fail(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("answering %s failed", self.label)
            self._fail(PeerError(f"internal error: {exc}"))
        finally:
            if upcoming is not None:
                upcoming.cancel()


def _check_answer(request: Message, answer: Message) -> None:
    """The answer must fit the request it answers, in kind and in id."""
    if isinstance(request, HaveBlob):
        if not (isinstance(answer, BlobStatus) and answer.manifest == request.manifest):
            raise ProtocolError(f"{message_name(answer)} in answer to have_blob")
    elif isinstance(request, (WantChunk, WantBlock)):
        if isinstance(answer, NotFound):
            return
        if not isinstance(answer, Block):
            raise ProtocolError(f"{message_name(answer)} in answer to {message_name(request)}")
        if isinstance(request, WantBlock) and answer.id != request.id:
            raise ProtocolError("block in answer to want_block has another id")
    else:  # pragma: no cover - every request type is handled above
        raise ProtocolError(f"no answer expected for {message_name(request)}")


def host_port(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
