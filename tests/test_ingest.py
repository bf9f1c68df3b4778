"""Ingest: every record checked once, whatever the batch holds, in any order."""

from __future__ import annotations

import random

import pytest
from nacl.signing import SigningKey

from fixme.node import canonical
from fixme.node.hashing import block_id
from fixme.node.log import SMALL_INGEST, LogIndex, RecordLog
from fixme.node.records import parse_record, sign_record
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
