"""Reconciling record logs with a peer: what to ask for, what to send.

Both sides send `hello_logs` (the heads of every log they carry). For each
log both carry, a side that does not know one of the peer's heads pulls:

1. `want_records` with the unknown heads as `ids` and a *locator* as `have`:
   our heads plus records further and further back in our log (see
   LogIndex.sample). Our log is closed under parents, so every ancestor of a
   locator record is something we hold.
2. The peer walks back from `ids` through parents, newest first (by clock),
   and sends every record it finds that is not an ancestor of a `have` it
   knows, up to 1024 per answer (`records_to_send`).
3. We note the parents of what came that we neither hold nor received, and
   ask for those next, until nothing is missing: a long history arrives in
   batches of 1024, a short divergence in one round trip.
4. Meanwhile each answer's records are checked: form as they arrive, then
   author trusted, then signature (RecordLog.verify, on the node's verifier
   threads), and those that pass are staged on disk (staging.py); once all
   have come they are stored oldest first, a page at a time.

Acceptance never depends on the peer: every record is verified before it
is stored, and a record whose parents could not be had waits, as in any
ingest.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from .keys import key_text
from .log import VERIFY_PIECE, LogIndex, RecordLog, Rejected
from .messages import MAX_HAVE, MAX_IDS_PER_MESSAGE, ProtocolError, WantRecords
from .peer import PeerLink, RecordsAnswer
from .records import Record, RecordError, parse_hashed

if TYPE_CHECKING:
    from .local import LocalStore
    from .staging import Position, PullLedger, StagedRecords

MAX_RECORDS_PER_PULL = 2_000_000   # a peer cannot make us stage more than this in one session
INGEST_BATCH = 5_000               # staged records stored per transaction, read back from the staging
PIECES_IN_FLIGHT = 16              # pieces verified at once: 4 answers' worth, enough to keep both threads busy

_HAVE, _WANT = 1, 2


def records_to_send(index: LogIndex, wants: Iterable[str], haves: Iterable[str],
                    limit: int = MAX_IDS_PER_MESSAGE) -> tuple[list[str], list[str]]:
    """The records to answer a want_records with, newest first, and the wanted ids we lack.

    A walk by descending clock over the wanted records and the peer's haves
    together: a have marks its ancestors as held by the peer, a want marks
    its ancestors as wanted unless already marked held. A child's clock
    exceeds its parents', so when a record comes off the heap every child
    that could mark it has already been seen: its mark is final. The walk
    stops when nothing wanted is left on the heap or `limit` records are chosen.
    """
    wants, haves = list(dict.fromkeys(wants)), list(dict.fromkeys(haves))
    links = index.links([*wants, *haves])
    absent: set[str] = set()  # looked up, not in our index
    missing = [w for w in wants if w not in links]
    mark: dict[str, int] = {}
    heap: list[tuple[int, str]] = []
    for record_id in haves:
        if record_id in links:
            mark[record_id] = _HAVE
            heapq.heappush(heap, (-links[record_id][0], record_id))
    wanting = 0
    for record_id in wants:
        if record_id in links and record_id not in mark:
            mark[record_id] = _WANT
            wanting += 1
            heapq.heappush(heap, (-links[record_id][0], record_id))
    chosen: list[str] = []
    while heap and wanting and len(chosen) < limit:
        _, record_id = heapq.heappop(heap)
        kind = mark[record_id]
        if kind == _WANT:
            wanting -= 1
            chosen.append(record_id)
        parents = links[record_id][1]
        unknown = [p for p in parents if p not in links and p not in absent]
        if unknown:
            found = index.links_and_neighbours(unknown)
            absent.update(p for p in unknown if p not in found)
            for found_id, link in found.items():
                links.setdefault(found_id, link)
        for parent in parents:
            if parent not in links:
                continue  # not in our log: not ours to send
            previous = mark.get(parent)
            if previous is None:
                mark[parent] = kind
                wanting += kind == _WANT
                heapq.heappush(heap, (-links[parent][0], parent))
            elif previous == _WANT and kind == _HAVE:
                mark[parent] = _HAVE  # still on the heap; the peer holds it after all
                wanting -= 1
    return chosen, missing


def locator(log: RecordLog) -> list[str]:
    """Our heads, then records ever further back: what we tell a peer we hold."""
    heads = log.heads()[:MAX_HAVE // 2]
    sample = log.index.sample(log.name, MAX_HAVE)
    return list(dict.fromkeys([*heads, *sample]))[:MAX_HAVE]


@dataclass
class PullReport:
    log: str
    received: int = 0                   # record blocks that came in
    added: int = 0                      # stored after every check
    refused: list[tuple[str, str]] = field(default_factory=list)   # (id, reason)
    untrusted: dict[str, int] = field(default_factory=dict)         # author -> records refused for it
    waiting: int = 0                    # valid, but a parent could not be had


AcceptAuthor = Callable[[str, str], bool]   # (log name, author key text) -> may it be stored?


async def pull_log(link: PeerLink, local: LocalStore, name: str, peer_heads: Iterable[str],
                   accept_author: AcceptAuthor) -> PullReport:
    """Fetch what the peer has of log `name` that we lack, check it, store it.

    The peer walks back from its heads, so the oldest records come last, and
    a record can be stored only after its parents: nothing is stored before
    the walk ends. Meanwhile nothing of it is kept in memory: each answer's
    records are parsed as they arrive, noted in the pull's staging database
    (what came, what to ask next), and verified on the verifier threads while
    the next answer comes in; those that pass are staged there. Then they
    are stored oldest first (by clock, id), a page at a time. So a pull's
    memory does not grow with its size.
    """
    report = PullReport(name)
    peer_heads = list(peer_heads)
    held = await local.known(peer_heads)
    frontier = [h for h in peer_heads if h not in held]
    if not frontier:
        return report
    have = await local.locator(name)
    ledger, staged = await local.pull_scratch()
    checks = _Checks(local, staged, name, accept_author, report)
    try:
        await local.call(ledger.ask, frontier)
        await _walk(link, local, ledger, have, checks, report)
        await checks.finish()
        await _store_staged(local, staged, name, report)
    finally:
        checks.cancel()
        await local.call(ledger.close)
        await local.call(staged.close)
    return report


async def _walk(link: PeerLink, local: LocalStore, ledger: PullLedger, have: list[str], checks: _Checks,
                report: PullReport) -> None:
    """Ask for what is wanted, pass after pass, until nothing is left to ask.

    A pass asks for the parents of what came in the one before that are
    neither held nor came, less those the peer lacks or answered with a block
    that is not a record (neither is asked for again). An id the peer
    neither sent nor called missing (its answer was full) is asked again;
    a pass that brings nothing new ends the walk, so a peer that answers
    with nothing cannot keep us asking. What is still wanted then waits.
    """
    while await local.call(ledger.next_pass):
        after, progress = "", False
        while batch := await local.call(ledger.frontier, after, MAX_IDS_PER_MESSAGE):
            after = batch[-1]
            answer = await link.request(WantRecords(tuple(batch), tuple(have)))
            assert isinstance(answer, RecordsAnswer)
            records, junk = _parse_answer(answer, batch, report)
            new = await local.call(ledger.take, records, [*answer.missing, *junk])
            progress = progress or bool(new or answer.missing or junk)
            if ledger.received > MAX_RECORDS_PER_PULL:
                raise ProtocolError(f"peer offers more than {MAX_RECORDS_PER_PULL} records in one session")
            await checks.start(new)
        if not progress:
            return


async def _store_staged(local: LocalStore, staged: StagedRecords, name: str, report: PullReport) -> None:
    """Store the staged records, oldest first (by clock, id), INGEST_BATCH at a time.

    In that order every parent comes before its children, whichever page it
    is in: a page stores a record only when its parents are in the log
    (stored by an earlier page, or before this pull) or earlier in the page.
    """
    after: Position | None = None
    while (stored := await local.ingest_staged(name, staged, after, INGEST_BATCH)) is not None:
        outcome, after = stored
        report.added += outcome.added
        report.refused.extend((r.id, r.reason) for r in outcome.rejected)
        report.waiting += outcome.waiting


class _Checks:
    """The checks of one pull's records that need no order, running while the pull goes on:
    author accepted (at once), then signature (on the verifier threads); what passes is staged.

    At most PIECES_IN_FLIGHT pieces are checked at a time: a peer that sends
    faster than we verify waits for its next request, rather than having its
    records pile up here.
    """

    def __init__(self, local: LocalStore, staged: StagedRecords, name: str, accept_author: AcceptAuthor,
                 report: PullReport):
        self._local = local
        self._staged = staged
        self._name = name
        self._accept_author = accept_author
        self._report = report
        self._trusted: dict[bytes, bool] = {}   # author -> accept_author's answer, asked once per pull
        self._running: deque[asyncio.Future[list[Rejected]]] = deque()

    async def start(self, records: list[Record]) -> None:
        """Refuse records by authors not accepted; start verifying and staging the rest."""
        accepted = []
        for record in records:
            if self._accepts(record.author):
                accepted.append(record)
            else:
                self._report.refused.append((record.id, f"author {record.author_text[:24]}… is not trusted here"))
                untrusted = self._report.untrusted
                untrusted[record.author_text] = untrusted.get(record.author_text, 0) + 1
        # In pieces, so that both verifier threads share each answer.
        for start in range(0, len(accepted), VERIFY_PIECE):
            piece = accepted[start:start + VERIFY_PIECE]
            self._running.append(asyncio.ensure_future(self._verify_and_stage(piece)))
        while len(self._running) > PIECES_IN_FLIGHT:
            await self._settle_oldest()

    async def finish(self) -> None:
        """Wait until every record has been checked, and staged if it passed."""
        while self._running:
            await self._settle_oldest()

    def cancel(self) -> None:
        """Drop the checks still queued (the pull failed); those already running finish unheard."""
        for running in self._running:
            if running.done() and not running.cancelled():
                running.exception()   # retrieved: the pull's own error is the one to report
            running.cancel()
        self._running.clear()

    async def _verify_and_stage(self, piece: list[Record]) -> list[Rejected]:
        return await self._local.verify_and_stage(self._name, piece, self._staged)

    async def _settle_oldest(self) -> None:
        rejected = await self._running[0]
        self._running.popleft()
        self._report.refused.extend((r.id, r.reason) for r in rejected)

    def _accepts(self, author: bytes) -> bool:
        if author not in self._trusted:
            self._trusted[author] = self._accept_author(self._name, key_text(author))
        return self._trusted[author]


def _parse_answer(answer: RecordsAnswer, asked: list[str], report: PullReport) -> tuple[list[Record], list[str]]:
    """Parse the records of one answer, refusing any the peer had no reason to send.

    Returns the records, and the ids of blocks that are not records.

    The peer walks newest first, so every record in an answer is one we asked
    for or a parent of one before it in the same answer. Parsing here rather
    than on the verifier threads keeps those out of the interpreter (and its
    lock) but for a few microseconds per record.
    """
    expected = set(asked)
    records, junk = [], []
    for block in answer.blocks:
        if block.id not in expected:
            raise ProtocolError(f"records answer holds {block.id[:19]}…, which was not asked for")
        try:
            record = parse_hashed(block.data, block.id)  # the codec checked the id is the hash
        except RecordError as exc:
            report.refused.append((block.id, f"not a record: {exc}"))
            junk.append(block.id)
            continue
        report.received += 1
        records.append(record)
        expected.update(record.parents)
    return records, junk
