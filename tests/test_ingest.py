"""Ingest: every record checked once, whatever the batch holds, in any order."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from nacl.signing import SigningKey

from fixme.node import canonical
from fixme.node.hashing import block_id
from fixme.node.log import SMALL_INGEST, LogIndex, RecordLog
from fixme.node.records import parse_record, sign_record, verify_signature
from fixme.node.storage import open_node_storage
from fixme.tracker.workflow import LOG_NAME, set_payload

KEY = SigningKey(b"i" * 32)
OTHER = SigningKey(b"o" * 32)


@pytest.fixture
def log(tmp_path):
    store, refs = open_node_storage(tmp_path / "node")
    index = LogIndex(tmp_path / "node" / "records.db")
    yield RecordLog(store, refs, index, LOG_NAME)
    index.close()
    store.close()


def chain(count: int, key: SigningKey = KEY, log_name: str = LOG_NAME) -> list:
    """`count` records, each the child of the one before."""
    records = []
    for n in range(count):
        parents = [records[-1].id] if records else []
        records.append(sign_record(key, log_name, parents, n + 1, 1_700_000_000_000 + n,
                                   set_payload("a" * 40, "workflow", ["wip", "done"][n % 2])))
    return records


def forged(record) -> bytes:
    """The record with another key's signature over the same content."""
    doc = canonical.decode(record.data)
    doc["sig"] = canonical.decode(sign_record(OTHER, LOG_NAME, [], 1, 1, {}).data)["sig"]
    return canonical.encode(doc)


@pytest.mark.parametrize("size", [1, SMALL_INGEST, SMALL_INGEST + 1, 700])
def test_a_batch_in_any_order_is_added_whole_and_known_afterwards(log, size):
    records = chain(size)
    blocks = [r.data for r in records]
    random.Random(size).shuffle(blocks)
    report = log.ingest(blocks + blocks[:3])  # repeats in the same batch count as known
    assert [r.id for r in report.added] == [r.id for r in records]  # parents first
    assert report.known == min(3, size) and not report.rejected and not report.waiting
    assert log.heads() == [records[-1].id]
    indexed = [r for _, r in log.records()]
    assert [(r.id, r.clock, r.parents, r.payload) for r in indexed] == [
        (r.id, r.clock, r.parents, parse_record(r.data).payload) for r in records]
    assert all(log.store.get(r.id) == r.data for r in records)
    again = log.ingest(blocks)
    assert again.known == size and not again.added and not again.rejected


def test_bad_records_in_a_big_batch_are_rejected_with_reasons_and_the_rest_goes_in(log):
    good = chain(40)
    stray = chain(1, log_name="elsewhere")[0]
    bad_sig = forged(good[10])
    blocks = [r.data for r in good[:10]] + [bad_sig, b"not json", b'{"type":"record"}', stray.data]
    blocks += [r.data for r in good[10:]]
    report = log.ingest(blocks)
    reasons = {r.id: r.reason for r in report.rejected}
    assert reasons[block_id(bad_sig)] == "bad signature"
    assert "not a canonical document" in reasons[block_id(b"not json")]
    assert reasons[block_id(b'{"type":"record"}')].startswith("unsupported record version")
    assert reasons[stray.id] == "record of log 'elsewhere', not 'tracker'"
    assert len(reasons) == 4
    # The forged copy of good[10] is another block: good[10] itself is fine.
    assert [r.id for r in report.added] == [r.id for r in good] and not report.waiting
    assert not log.store.has(block_id(bad_sig)) and not log.store.has(stray.id)


def test_children_of_a_badly_signed_record_wait_for_a_good_parent(log):
    records = chain(30)
    blocks = [r.data for r in records[:5]] + [forged(records[5])] + [r.data for r in records[6:]]
    report = log.ingest(blocks)
    assert [r.id for r in report.added] == [r.id for r in records[:5]]
    assert [r.id for r in report.waiting] == [r.id for r in records[6:]]
    assert [r.reason for r in report.rejected] == ["bad signature"]
    assert log.heads() == [records[4].id]
    later = log.ingest([r.data for r in report.waiting] + [records[5].data])
    assert [r.id for r in later.added] == [r.id for r in records[5:]] and not later.waiting
    assert log.heads() == [records[-1].id]


def reference_ingest(known: dict[str, int], blocks: list[bytes]) -> tuple[list[str], set, list[str], int]:
    """What docs/records.md says ingest does, written plainly: (added, rejected, waiting ids, known).

    `known` maps the ids already in the log to their clocks.
    """
    from fixme.node.records import RecordError

    seen, valid, rejected, repeats = set(), [], set(), 0
    for data in blocks:
        rid = block_id(data)
        if rid in known or rid in seen:
            repeats += 1
            continue
        seen.add(rid)
        try:
            record = parse_record(data, verify=False)
        except RecordError as exc:
            rejected.add((rid, str(exc)))
            continue
        if record.log != LOG_NAME:  # checked before the signature: no need to verify it
            rejected.add((rid, f"record of log {record.log!r}, not {LOG_NAME!r}"))
        elif not verify_signature(record):
            rejected.add((rid, "bad signature"))
        else:
            valid.append(record)
    clocks, added, waiting = dict(known), [], []
    for record in sorted(valid, key=lambda r: (r.clock, r.id)):
        late = [p for p in record.parents if p in clocks and clocks[p] >= record.clock]
        if late:
            rejected.add((record.id, f"clock {record.clock} does not exceed parent {late[0]}'s"))
        elif any(p not in clocks for p in record.parents):
            waiting.append(record.id)
        else:
            clocks[record.id] = record.clock
            added.append(record.id)
    return added, rejected, waiting, repeats


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), size=st.integers(1, 60), first=st.integers(0, 60))
def test_ingest_does_what_the_rules_say(tmp_path_factory, seed, size, first):
    """Random DAGs with late clocks, absent parents, forged and foreign records, offered in two calls."""
    rng = random.Random(seed)
    records, blocks = [], []
    for n in range(size):
        parents = rng.sample(records, k=min(len(records), rng.randint(0, 3)))
        clock = 1 + max((p.clock for p in parents), default=0) - (rng.random() < 0.1)  # now and then too low
        record = sign_record(rng.choice([KEY, OTHER]), rng.choice([LOG_NAME] * 9 + ["other"]),
                             [p.id for p in parents], max(clock, 1), n, set_payload("a" * 40, "workflow", "wip"))
        records.append(record)
        kind = rng.random()
        if kind < 0.08:
            blocks.append(forged(record))  # children of it wait
        elif kind < 0.15:
            continue  # never offered: children of it wait
        else:
            blocks.append(record.data)
    blocks += rng.sample(blocks, k=min(len(blocks), 3))  # repeats
    rng.shuffle(blocks)
    tmp_path = tmp_path_factory.mktemp("ingest")
    store, refs = open_node_storage(tmp_path)
    index = LogIndex(tmp_path / "records.db")
    log = RecordLog(store, refs, index, LOG_NAME)
    known: dict[str, int] = {}
    for part in (blocks[:first], blocks[first:]):
        expected = reference_ingest(known, part)
        report = log.ingest(part)
        assert ([r.id for r in report.added], {(r.id, r.reason) for r in report.rejected},
                [r.id for r in report.waiting], report.known) == expected
        known.update((r.id, r.clock) for r in report.added)
    assert {r.id for _, r in log.records()} == set(known)
    index.close()
    store.close()


def test_verify_then_ingest_verified_is_ingest_in_two_steps(log):
    """What sync does: verify on any thread as records arrive, then store them together."""
    from fixme.node.records import parse_hashed

    records = chain(40)
    other_log = chain(1, log_name="elsewhere")[0]
    bad = parse_hashed(forged(records[5]), block_id(forged(records[5])))
    good, rejected = log.verify([*records, other_log, bad])
    assert good == records
    assert [(r.id, r.reason) for r in rejected] == [
        (other_log.id, f"record of log 'elsewhere', not {LOG_NAME!r}"), (bad.id, "bad signature")]
    early = log.ingest_verified([records[0], records[2]])   # the second waits for its parent
    assert [r.id for r in early.added] == [records[0].id] and [r.id for r in early.waiting] == [records[2].id]
    shuffled = records[:]
    random.Random(4).shuffle(shuffled)
    report = log.ingest_verified(shuffled + shuffled[:2])
    assert [r.id for r in report.added] == [r.id for r in records[1:]]  # parents first
    assert report.known == 3 and not report.rejected and not report.waiting
    assert log.heads() == [records[-1].id] and all(log.store.get(r.id) == r.data for r in records)
