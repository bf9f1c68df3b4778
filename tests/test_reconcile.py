"""What a node answers to want_records: the walk back through the DAG, against a plain reference."""

from __future__ import annotations

import random

import pytest
from nacl.signing import SigningKey

from fixme.node.log import LogIndex, RecordLog
from fixme.node.messages import WantRecords
from fixme.node.records import sign_record
from fixme.node.storage import open_node_storage
from fixme.node.reconcile import records_to_send

KEYS = [SigningKey(bytes([n + 7]) * 32) for n in range(3)]


def random_dag(rng: random.Random, count: int, log_name: str) -> list:
    """Records by three authors, each naming one to three of the recent records (often not the newest)."""
    records = []
    for n in range(count):
        recent = records[-12:]
        parents = rng.sample(recent, k=min(len(recent), rng.randint(1, 3)))
        clock = 1 + max((p.clock for p in parents), default=0)
        records.append(sign_record(KEYS[n % 3], log_name, [p.id for p in parents], clock,
                                   1_700_000_000_000 + n, {"n": n}))
    return records


@pytest.fixture
def dag(tmp_path):
    """A log of 900 records ingested in shuffled batches (so index order is not clock order),
    interleaved with a second log's records."""
    rng = random.Random(3)
    store, refs = open_node_storage(tmp_path / "node")
    index = LogIndex(tmp_path / "node" / "records.db")
    logs = {name: RecordLog(store, refs, index, name) for name in ("main", "other")}
    records = random_dag(rng, 900, "main")
    others = random_dag(rng, 300, "other")
    batches = [records[start:start + 150] for start in range(0, 900, 150)]
    for number, batch in enumerate(batches):
        shuffled = batch[:]
        rng.shuffle(shuffled)
        assert len(logs["main"].ingest([r.data for r in shuffled]).added) == len(batch)
        logs["other"].ingest([r.data for r in others[number * 50:(number + 1) * 50]])
    yield index, {r.id: r for r in records}
    index.close()
    store.close()


def ancestry(records: dict, starts: list[str]) -> set[str]:
    """The starts and all their ancestors (that are in `records`)."""
    seen: set[str] = set()
    todo = [s for s in starts if s in records]
    while todo:
        record_id = todo.pop()
        if record_id not in seen:
            seen.add(record_id)
            todo.extend(p for p in records[record_id].parents if p in records)
    return seen


def expected_answer(records: dict, wants: list[str], haves: list[str], limit: int) -> list[str]:
    """Wanted records and their ancestors, less what the haves imply, newest first, at most `limit`."""
    owed = ancestry(records, wants) - ancestry(records, haves)
    return sorted(owed, key=lambda r: (-records[r].clock, r))[:limit]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("limit", [40, 1024])
def test_the_walk_sends_exactly_what_the_peer_lacks_newest_first(dag, seed, limit):
    index, records = dag
    rng = random.Random(seed)
    ids = list(records)
    wants = rng.sample(ids[-300:], k=rng.randint(1, 4))
    haves = rng.sample(ids[:700], k=rng.randint(0, 6))
    unknown = "sha256:" + "ab" * 32
    chosen, missing = records_to_send(index, [*wants, unknown], haves, limit=limit)
    assert chosen == expected_answer(records, wants, haves, limit)
    assert missing == [unknown]


def test_a_damaged_record_is_not_passed_on(tmp_path):
    import asyncio
    import sqlite3

    from fixme.node.local import LocalStore
    from fixme.node.messages import Records, decode_message, encode_message

    records = random_dag(random.Random(5), 30, "main")
    local = LocalStore(tmp_path / "node", ["main"])
    try:
        local.logs["main"].ingest([r.data for r in records])
        damaged, wanted = records[10], records[-1]
        with sqlite3.connect(local.store.db_path) as conn:
            conn.execute("UPDATE blocks SET data = ? WHERE digest = ?",
                         (damaged.data.replace(b'"n":10', b'"n":11'), bytes.fromhex(damaged.id[7:])))
        conn.close()
        header, *blocks = asyncio.run(local.answer(WantRecords((wanted.id, damaged.id), ())))
        # Decoded as the peer would: each block's hash is checked against its id.
        sent = [decode_message(b if isinstance(b, bytes) else encode_message(b)) for b in blocks]
        assert header == Records(len(sent), (damaged.id,))
        owed = ancestry({r.id: r for r in records}, [wanted.id, damaged.id])
        assert {b.id for b in sent} == owed - {damaged.id} and len(sent) == len(owed) - 1
    finally:
        local.close()
