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
4. Then the records are checked (author trusted, hash and signature in
   RecordLog.ingest) and stored oldest first.

Acceptance never depends on the peer: ingest verifies everything, and a
record whose parents could not be had waits, as in any ingest.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from .log import LogIndex, RecordLog
from .messages import MAX_HAVE, MAX_IDS_PER_MESSAGE, ProtocolError, WantRecords
from .peer import PeerLink, RecordsAnswer

if TYPE_CHECKING:
    from .local import LocalStore

MAX_RECORDS_PER_PULL = 2_000_000   # a peer cannot make us hold more than this in one session
INGEST_BATCH = 20_000

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
class _Peeked:
    clock: int
    parents: tuple[str, ...]
    author: str


def _peek(data: bytes) -> _Peeked | None:
    """The fields the walk needs, read cheaply; None if they are not there.

    Only steers what we ask for next: ingest checks the record in full.
    """
    try:
        doc = json.loads(data)
        clock, parents, author = doc["clock"], doc["parents"], doc["author"]
    except (ValueError, KeyError, TypeError):
        return None
    if type(clock) is not int or not isinstance(parents, list) or not isinstance(author, str):
        return None
    if not all(isinstance(p, str) for p in parents):
        return None
    return _Peeked(clock, tuple(parents), author)


@dataclass
class PullReport:
    log: str
    received: int = 0                   # record blocks that came in
    added: int = 0                      # stored after every check
    refused: list[tuple[str, str]] = field(default_factory=list)   # (id, reason)
    waiting: int = 0                    # valid, but a parent could not be had


AcceptAuthor = Callable[[str, str], bool]   # (log name, author key text) -> may it be stored?


async def pull_log(link: PeerLink, local: LocalStore, name: str, peer_heads: Iterable[str],
                   accept_author: AcceptAuthor) -> PullReport:
    """Fetch what the peer has of log `name` that we lack, check it, store it."""
    report = PullReport(name)
    peer_heads = list(peer_heads)
    held = await local.known(peer_heads)
    frontier = [h for h in peer_heads if h not in held]
    if not frontier:
        return report
    have = await local.locator(name)
    received: dict[str, bytes] = {}
    peeked: dict[str, _Peeked] = {}
    given_up: set[str] = set()
    while frontier:
        for start in range(0, len(frontier), MAX_IDS_PER_MESSAGE):
            batch = frontier[start:start + MAX_IDS_PER_MESSAGE]
            answer = await link.request(WantRecords(tuple(batch), tuple(have)))
            assert isinstance(answer, RecordsAnswer)
            _take_records(answer, batch, received, peeked, report)
            given_up.update(answer.missing)
            if len(received) > MAX_RECORDS_PER_PULL:
                raise ProtocolError(f"peer offers more than {MAX_RECORDS_PER_PULL} records in one session")
        parents = {p for info in peeked.values() for p in info.parents} - received.keys() - given_up
        frontier = sorted(parents - await local.known(list(parents)))
    accepted = []
    for record_id, data in received.items():
        info = peeked[record_id]
        if accept_author(name, info.author):
            accepted.append((info.clock, record_id, data))
        else:
            report.refused.append((record_id, f"author {info.author[:24]}… is not trusted here"))
    accepted.sort()
    for start in range(0, len(accepted), INGEST_BATCH):
        outcome = await local.ingest(name, [data for _, _, data in accepted[start:start + INGEST_BATCH]])
        report.added += len(outcome.added)
        report.refused.extend((r.id, r.reason) for r in outcome.rejected)
        report.waiting += len(outcome.waiting)
    return report


def _take_records(answer: RecordsAnswer, asked: list[str], received: dict[str, bytes],
                  peeked: dict[str, _Peeked], report: PullReport) -> None:
    """Keep the records of one answer, refusing any the peer had no reason to send.

    The peer walks newest first, so every record in an answer is one we asked
    for or a parent of one before it in the same answer.
    """
    expected = set(asked)
    for block in answer.blocks:
        if block.id not in expected:
            raise ProtocolError(f"records answer holds {block.id[:19]}…, which was not asked for")
        info = _peek(block.data)
        if info is None:
            report.refused.append((block.id, "not a record"))
            continue
        report.received += 1
        if block.id not in received:
            received[block.id] = block.data
            peeked[block.id] = info
        expected.update(info.parents)
