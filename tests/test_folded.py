"""The kept fold (.fixme/cache/folded.json) gives exactly what a fold of the whole log gives.

Incremental catch-up against a full fold, whatever order records arrive in
(waiting parents included), by trusted and untrusted authors, across a
change of the trust list, a records.db rebuilt or evicted from, and a cache
deleted or damaged.
"""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings, strategies as st
from nacl.signing import SigningKey

from fixme.config import Config, TrustedKey
from fixme.node.keys import key_text
from fixme.node.log import LogIndex, RecordLog
from fixme.node.records import sign_record
from fixme.node.storage import open_node_storage
from fixme.tracker.changes import INDEX_FILE, node_dir, read_changes
from fixme.tracker.folded import FOLD_FILE, folded_state
from fixme.tracker.workflow import LOG_NAME, comment_payload, latest_sets, set_payload

KEYS = [SigningKey(bytes([n + 40]) * 32) for n in range(3)]
AUTHORS = [key_text(bytes(k.verify_key)) for k in KEYS]
ENTRIES = ["a" * 40, "b" * 40, "c" * 40]
STATES = ["backlog", "wip", "test", "done"]


def config(trusted: int = 2) -> Config:
    """The first `trusted` authors are in the trust list."""
    return Config(trusted=tuple(TrustedKey(key, f"author{n}") for n, key in enumerate(AUTHORS[:trusted])))


def random_records(seed: int, size: int) -> list:
    """A DAG by three authors: sets of two attributes, comments, clocks that tie across authors."""
    rng = random.Random(seed)
    records = []
    for _ in range(size):
        parents = rng.sample(records, k=min(len(records), rng.randint(0, 2)))
        clock = 1 + max((p.clock for p in parents), default=0)
        entry = rng.choice(ENTRIES)
        payload = (comment_payload(entry, "a word") if rng.random() < 0.1 else
                   set_payload(entry, rng.choice(["workflow", "assigned"]), rng.choice(STATES)))
        records.append(sign_record(rng.choice(KEYS), LOG_NAME, [p.id for p in parents], clock,
                                   1_700_000_000_000 + rng.randint(0, 10**6), payload))
    return records


def full_fold(root, cfg: Config) -> dict:
    """What the tracker folded before the cache: every change read, latest_sets."""
    return as_plain(latest_sets(read_changes(root, cfg)))


def as_plain(latest) -> dict:
    return {entry: {attr: tuple(change) for attr, change in attrs.items()} for entry, attrs in latest.items()}


def ingest(root, blocks: list[bytes]) -> list[bytes]:
    """Offer blocks to the log as sync would; the ones still waiting for parents."""
    directory = node_dir(root)
    store, refs = open_node_storage(directory)
    index = LogIndex(directory / INDEX_FILE)
    try:
        report = RecordLog(store, refs, index, LOG_NAME).ingest(blocks)
        assert not report.rejected
        return [r.data for r in report.waiting]
    finally:
        index.close()
        store.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), size=st.integers(1, 30), order_seed=st.integers(0, 2**32),
       batch=st.integers(1, 9), trusted=st.integers(0, 3))
def test_catching_up_batch_by_batch_equals_a_full_fold(tmp_path_factory, seed, size, order_seed, batch, trusted):
    root = tmp_path_factory.mktemp("kept")
    cfg = config(trusted)
    blocks = [r.data for r in random_records(seed, size)]
    random.Random(order_seed).shuffle(blocks)  # children before parents: they wait
    waiting: list[bytes] = []
    for start in range(0, len(blocks), batch):
        waiting = ingest(root, waiting + blocks[start:start + batch])
        assert as_plain(folded_state(root, cfg)) == full_fold(root, cfg)
    assert not waiting
    assert (root / ".fixme" / "cache" / FOLD_FILE).exists()
    # A second reader with nothing new reads the same answer from the file alone.
    assert as_plain(folded_state(root, cfg)) == full_fold(root, cfg)


def test_a_change_of_the_trust_list_folds_again(tmp_path):
    records = random_records(5, 30)
    ingest(tmp_path, [r.data for r in records])
    for trusted in (1, 3, 0, 2):
        assert as_plain(folded_state(tmp_path, config(trusted))) == full_fold(tmp_path, config(trusted))


def test_a_deleted_or_damaged_cache_gives_the_same_answer(tmp_path):
    cfg = config(3)
    ingest(tmp_path, [r.data for r in random_records(9, 40)])
    expected = full_fold(tmp_path, cfg)
    path = tmp_path / ".fixme" / "cache" / FOLD_FILE
    assert as_plain(folded_state(tmp_path, cfg)) == expected
    good = path.read_bytes()
    header, _, body = good.partition(b"\n")
    # A winner's value changed in place: the checksum no longer matches.
    tampered = body.replace(b"wip", b"wap", 1) if b"wip" in body else body.replace(b"done", b"dome", 1)
    assert tampered != body
    mark = json.loads(header)
    mark["mark"]["seq"] = str(mark["mark"]["seq"])
    damages = [b"", b"garbage", good[: len(good) // 2], header + b"\n" + tampered, b"{}\n{}",
               json.dumps(mark).encode() + b"\n" + body]
    for damage in damages:
        path.write_bytes(damage)
        assert as_plain(folded_state(tmp_path, cfg)) == expected, damage[:40]
        assert path.read_bytes() != damage  # rewritten whole
    path.unlink()
    assert as_plain(folded_state(tmp_path, cfg)) == expected


def test_a_rebuilt_records_db_is_followed_from_scratch(tmp_path):
    """records.db rebuilt from the blocks numbers records again: the old mark means nothing."""
    from fixme.node.rebuild import rebuild_index

    cfg = config(3)
    records = random_records(11, 30)
    ingest(tmp_path, [r.data for r in records[:20]])
    folded_state(tmp_path, cfg)
    ingest(tmp_path, [r.data for r in records[20:]])
    (node_dir(tmp_path) / INDEX_FILE).unlink()
    rebuild_index(node_dir(tmp_path), "test")
    assert as_plain(folded_state(tmp_path, cfg)) == full_fold(tmp_path, cfg)


def test_records_evicted_from_the_index_are_noticed(tmp_path):
    """fsck may evict records (their blocks were lost): the kept winners could name one of them."""
    cfg = config(3)
    records = random_records(13, 30)
    ingest(tmp_path, [r.data for r in records])
    before = folded_state(tmp_path, cfg)
    winner = next(iter(next(iter(before.values())).values())).record_id
    index = LogIndex(node_dir(tmp_path) / INDEX_FILE)
    try:
        index.evict([winner])
    finally:
        index.close()
    after = as_plain(folded_state(tmp_path, cfg))
    assert after == full_fold(tmp_path, cfg)
    assert winner not in json.dumps(after)


def test_without_records_nothing_is_kept_or_imported(tmp_path):
    assert folded_state(tmp_path, config()) == {}
    assert not (tmp_path / ".fixme").exists()


def test_only_the_records_that_arrived_since_are_read(tmp_path, monkeypatch):
    import fixme.tracker.folded as folded

    cfg = config(3)
    records = random_records(17, 25)
    ingest(tmp_path, [r.data for r in records[:24]])
    folded_state(tmp_path, cfg)
    seen = []
    original = folded.fold_records

    def counting(winners, new, trusted):
        new = list(new)
        seen.append(len(new))
        return original(winners, new, trusted)

    monkeypatch.setattr(folded, "fold_records", counting)
    ingest(tmp_path, [records[24].data])
    assert as_plain(folded_state(tmp_path, cfg)) == full_fold(tmp_path, cfg)
    assert seen == [1]


def test_readers_catching_up_at_once_while_records_arrive_agree_with_a_full_fold(tmp_path):
    """The dashboard's threads, or two commands, may catch up together: each writes a whole
    state as of its own mark, so whichever file lands, the next reader is right."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = config(3)
    records = random_records(21, 60)
    ingest(tmp_path, [r.data for r in records[:10]])
    with ThreadPoolExecutor(4) as pool:
        for start in range(10, 60, 10):
            readers = [pool.submit(folded_state, tmp_path, cfg) for _ in range(4)]
            ingest(tmp_path, [r.data for r in records[start:start + 10]])
            for reader in readers:
                reader.result()  # each saw some prefix of the log; none may fail
    assert as_plain(folded_state(tmp_path, cfg)) == full_fold(tmp_path, cfg)
    leftovers = [p.name for p in (tmp_path / ".fixme" / "cache").iterdir() if p.name != FOLD_FILE]
    assert leftovers == []
