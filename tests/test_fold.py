"""The fold: the same records give the same state, whatever order they arrive in."""

from __future__ import annotations

import random
import time

from hypothesis import HealthCheck, given, settings, strategies as st
from nacl.signing import SigningKey

from fixme.config import Config
from fixme.node.log import LogIndex, RecordLog
from fixme.node.records import sign_record
from fixme.node.storage import open_node_storage
from fixme.node.keys import key_text
from fixme.scan.entry import Entry
from fixme.tracker.fold import apply_changes
from fixme.tracker.workflow import LOG_NAME, change_of, latest_sets, set_payload

KEYS = [SigningKey(bytes([n]) * 32) for n in range(3)]
TRUSTED = {key_text(bytes(k.verify_key)) for k in KEYS[:2]}  # the third author is not trusted
ENTRIES = ["a" * 40, "b" * 40]
STATES = ["backlog", "wip", "test", "done"]


def random_dag(seed: int, size: int) -> list:
    """Records by three authors, each on top of a random subset of earlier records."""
    rng = random.Random(seed)
    records = []
    for n in range(size):
        parents = rng.sample(records, k=min(len(records), rng.randint(0, 2)))
        clock = 1 + max((p.clock for p in parents), default=0)
        payload = set_payload(rng.choice(ENTRIES), rng.choice(["workflow", "assigned"]), rng.choice(STATES))
        records.append(sign_record(rng.choice(KEYS), LOG_NAME, [p.id for p in parents], clock,
                                   1_700_000_000_000 + rng.randint(0, 10**6), payload))
    return records


def fold_after_ingest(tmp_path, name: str, blocks: list[bytes], batch: int) -> dict:
    store, refs = open_node_storage(tmp_path / name)
    index = LogIndex(tmp_path / name / "records.db")
    log = RecordLog(store, refs, index, LOG_NAME)
    waiting: list[bytes] = []
    for start in range(0, len(blocks), batch):
        # As a peer would: what waited for its parents is offered again with the next batch.
        report = log.ingest(waiting + blocks[start:start + batch])
        assert not report.rejected
        waiting = [r.data for r in report.waiting]
    assert not waiting
    changes = [change_of(r.id, r.payload, r.clock, r.time, key_text(r.author), key_text(r.author) in TRUSTED)
               for _, r in log.records()]
    heads = log.heads()
    index.close()
    store.close()
    latest = latest_sets(changes)
    return {"state": {e: {a: c.value for a, c in attrs.items()} for e, attrs in latest.items()},
            "heads": sorted(heads), "count": len(changes)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), size=st.integers(1, 30), order_seed=st.integers(0, 2**32),
       batch=st.integers(1, 8))
def test_every_arrival_order_folds_to_the_same_state(tmp_path_factory, seed, size, order_seed, batch):
    tmp_path = tmp_path_factory.mktemp("fold")
    records = random_dag(seed, size)
    in_order = fold_after_ingest(tmp_path, "ordered", [r.data for r in records], batch=len(records))
    shuffled = [r.data for r in records]
    random.Random(order_seed).shuffle(shuffled)
    other = fold_after_ingest(tmp_path, "shuffled", shuffled, batch=batch)
    assert other == in_order
    assert in_order["count"] == size
    # Nothing outside the heads: every record is a head or an ancestor of one.
    children_of = {p for r in records for p in r.parents}
    assert set(in_order["heads"]) == {r.id for r in records} - children_of


def test_the_later_record_in_causal_order_wins_over_a_higher_wall_time():
    early, late = KEYS[0], KEYS[1]
    first = sign_record(early, LOG_NAME, [], 1, 2_000_000_000_000, set_payload(ENTRIES[0], "workflow", "wip"))
    second = sign_record(late, LOG_NAME, [first.id], 2, 1_000_000_000_000, set_payload(ENTRIES[0], "workflow", "done"))
    changes = [change_of(r.id, r.payload, r.clock, r.time, key_text(r.author), True) for r in (second, first)]
    assert latest_sets(changes)[ENTRIES[0]]["workflow"].value == "done"


def test_untrusted_records_do_not_apply():
    record = sign_record(KEYS[2], LOG_NAME, [], 1, 1, set_payload(ENTRIES[0], "workflow", "done"))
    change = change_of(record.id, record.payload, 1, 1, key_text(record.author), trusted=False)
    assert latest_sets([change]) == {}


def entry(workflow: str = "new", attrs: dict | None = None, date: str | None = "2024-01-01T00:00:00+00:00") -> Entry:
    return Entry(id=ENTRIES[0], tag="TODO", slug=None, title="t", body="", path="a.py", line=1, source="code",
                 locations=[], date=date, attrs=attrs or {}, workflow=workflow)


def record_at(ms: int, value: str = "wip", attr: str = "workflow"):
    record = sign_record(KEYS[0], LOG_NAME, [], 1, ms, set_payload(ENTRIES[0], attr, value))
    return change_of(record.id, record.payload, record.clock, record.time, key_text(record.author), True)


JAN_2024 = 1_704_067_200_000


def test_a_record_newer_than_the_directive_wins():
    e = entry(workflow="backlog", attrs={"workflow": "backlog"})
    apply_changes([e], [record_at(JAN_2024 + 1000)], Config())
    assert e.workflow == "wip"


def test_a_directive_committed_after_the_record_wins():
    e = entry(workflow="backlog", attrs={"workflow": "backlog"})
    apply_changes([e], [record_at(JAN_2024 - 1000)], Config())
    assert e.workflow == "backlog"


def test_an_uncommitted_directive_counts_as_written_now():
    e = entry(workflow="backlog", attrs={"workflow": "backlog"}, date=None)
    apply_changes([e], [record_at(int(time.time() * 1000) - 1000)], Config())
    assert e.workflow == "backlog"


def test_without_a_directive_the_record_applies_whatever_its_age():
    e = entry()
    apply_changes([e], [record_at(1000, "test")], Config())
    assert e.workflow == "test"


def test_other_attributes_fold_into_attrs_and_values_outside_the_config_warn():
    e = entry()
    cfg = Config(attribute_values=(("priority", ("low", "high")),))
    apply_changes([e], [record_at(5, "ada", "assigned"), record_at(6, "urgent", "priority")], cfg)
    assert e.attrs == {"assigned": "ada"}
    assert any("no longer allows" in w for w in e.warnings)


def test_a_record_waits_for_its_parents_and_a_clock_that_goes_back_is_refused(tmp_path):
    store, refs = open_node_storage(tmp_path / "node")
    index = LogIndex(tmp_path / "node" / "records.db")
    log = RecordLog(store, refs, index, LOG_NAME)
    parent = sign_record(KEYS[0], LOG_NAME, [], 5, 1, set_payload(ENTRIES[0], "workflow", "wip"))
    child = sign_record(KEYS[1], LOG_NAME, [parent.id], 6, 2, set_payload(ENTRIES[0], "workflow", "done"))
    liar = sign_record(KEYS[1], LOG_NAME, [parent.id], 5, 3, set_payload(ENTRIES[0], "workflow", "test"))
    first = log.ingest([child.data])
    assert [r.id for r in first.waiting] == [child.id] and not first.added and log.heads() == []
    second = log.ingest([child.data, liar.data, parent.data])
    assert {r.id for r in second.added} == {parent.id, child.id}
    assert [r.id for r in second.rejected] == [liar.id] and "does not exceed" in second.rejected[0].reason
    assert log.heads() == [child.id]
    index.close()
    store.close()
