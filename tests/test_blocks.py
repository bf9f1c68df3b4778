"""The node's block store and refs: round trips, damage detection, and real concurrency."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixme.node.blocks import SMALL_BLOCK_MAX, TEMP_PREFIX, BlockCorrupt, BlockNotFound, BlockStore
from fixme.node.hashing import block_id
from fixme.node.refs import Refs, check_ref_name
from fixme.node.storage import open_node_storage


@pytest.fixture
def store(tmp_path):
    with BlockStore(tmp_path / "blocks") as s:
        yield s


def flip_db_byte(store: BlockStore, bid: str, offset: int = 0) -> None:
    """Damage a sqlite-stored block the way a bad disk would: behind the store's back."""
    digest = bytes.fromhex(bid.split(":", 1)[1])
    with sqlite3.connect(store.db_path) as conn:
        (data,) = conn.execute("SELECT data FROM blocks WHERE digest = ?", (digest,)).fetchone()
        damaged = bytearray(data)
        damaged[offset] ^= 0x01
        conn.execute("UPDATE blocks SET data = ? WHERE digest = ?", (bytes(damaged), digest))
    conn.close()


def flip_file_byte(path: Path, offset: int) -> None:
    os.chmod(path, 0o644)  # loose blocks are read-only
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x80]))


def test_small_and_large_blocks_round_trip(store):
    small = b"a record, more or less" * 10
    large = os.urandom(SMALL_BLOCK_MAX + 1)
    edge = os.urandom(SMALL_BLOCK_MAX)
    ids = [store.put(small), store.put(large), store.put(edge)]
    assert ids == [block_id(small), block_id(large), block_id(edge)]
    assert [store.get(i) for i in ids] == [small, large, edge]
    assert all(store.has(i) for i in ids)
    assert [store.size(i) for i in ids] == [len(small), len(large), len(edge)]
    # Small ones live in sqlite, large ones in read-only files named by their hash.
    assert not store.loose_path(ids[0]).exists() and not store.loose_path(ids[2]).exists()
    assert store.loose_path(ids[1]).read_bytes() == large
    assert store.loose_path(ids[1]).stat().st_mode & 0o222 == 0
    assert store.put(small) == ids[0] and store.put(large) == ids[1]  # idempotent
    assert sorted(store.ids()) == sorted(ids)
    absent = block_id(b"never stored")
    assert not store.has(absent)
    assert store.missing([*ids, absent, "not-an-id"]) == {absent, "not-an-id"}
    with pytest.raises(BlockNotFound) as info:
        store.get(absent)
    assert info.value.block_id == absent
    with pytest.raises(BlockNotFound):
        store.size(absent)


def test_put_many_is_one_batch_in_order(store):
    blocks = [b"block %d" % (i % 700) for i in range(1000)]  # with repeats
    blocks[10] = os.urandom(100_000)
    blocks[20] = blocks[10]
    ids = store.put_many(blocks)
    assert ids == [block_id(b) for b in blocks]
    assert len(set(store.ids())) == len(list(store.ids())) == len(set(ids))
    assert all(store.get(i) == b for i, b in zip(ids, blocks))
    assert store.put_many([]) == []


def test_put_hashed_stores_under_the_ids_given(store):
    blocks = [b"small", os.urandom(SMALL_BLOCK_MAX + 1)]
    store.put_hashed([(block_id(b), b) for b in blocks])
    assert all(store.get(block_id(b)) == b for b in blocks)
    with pytest.raises(ValueError):
        store.put_hashed([(block_id(b""), b"")])


def test_a_batch_of_many_large_blocks_holds_no_descriptors(store):
    import resource

    blocks = [os.urandom(SMALL_BLOCK_MAX + 1) for _ in range(100)]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    try:
        ids = store.put_many(blocks)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert [store.get(i) for i in ids] == blocks


def test_put_many_is_cheap_per_block(store):
    # Guards the layout decision (sqlite, one commit per batch), not a benchmark:
    # a file per block would take several times longer than this bound.
    batches = [[os.urandom(300) for _ in range(1000)] for _ in range(5)]
    started = time.perf_counter()
    for batch in batches:
        store.put_many(batch)
    per_block = (time.perf_counter() - started) / 5000
    assert per_block < 100e-6, f"{per_block * 1e6:.1f} µs per block"


def test_empty_blocks_and_bad_ids_are_refused(store):
    with pytest.raises(ValueError):
        store.put(b"")
    with pytest.raises(ValueError):
        store.put_many([b"fine", b""])
    assert list(store.ids()) == []  # the batch failed as a whole
    for bad in ("sha256:abc", "md5:" + "0" * 64, "SHA256:" + "0" * 64, "sha256:" + "G" * 64):
        with pytest.raises(ValueError):
            store.get(bad)


def test_reading_an_unwritten_store_creates_nothing(tmp_path):
    store = BlockStore(tmp_path / "nothing")
    assert list(store.ids()) == [] and store.missing([block_id(b"x")]) == {block_id(b"x")}
    with pytest.raises(BlockNotFound):
        store.get(block_id(b"x"))
    assert store.check_database() == []
    assert not (tmp_path / "nothing").exists()


def test_verify_catches_a_flipped_bit_in_either_place(store):
    small_id = store.put(b"small block " * 20)
    large = os.urandom(200_000)
    large_id = store.put(large)
    flip_db_byte(store, small_id, offset=5)
    flip_file_byte(store.loose_path(large_id), offset=123_456)
    for bid in (small_id, large_id):
        with pytest.raises(BlockCorrupt) as info:
            store.get(bid)
        assert info.value.block_id == bid and bid in str(info.value)
        assert isinstance(info.value, ValueError)
    assert store.get(small_id, verify=False) != b"small block " * 20  # unverified: the damaged bytes
    assert len(store.get(large_id, verify=False)) == len(large)


def test_get_intact_leaves_out_absent_and_damaged_blocks(store):
    small = [f"record {n} ".encode() * 30 for n in range(700)]  # more than one page of 500
    small_ids = store.put_many(small)
    large = os.urandom(200_000)
    large_id, bad_large_id = store.put(large), store.put(os.urandom(200_000))
    flip_db_byte(store, small_ids[3], offset=7)
    flip_file_byte(store.loose_path(bad_large_id), offset=1000)
    absent = block_id(b"never stored")
    got = store.get_intact([*small_ids, large_id, bad_large_id, absent, "not an id", small_ids[0]])
    assert set(got) == (set(small_ids) - {small_ids[3]}) | {large_id}
    assert got[small_ids[5]] == small[5] and got[large_id] == large
    assert BlockStore(store.root.parent / "unwritten").get_intact(small_ids) == {}


def test_quarantine_moves_blocks_aside_and_keeps_their_bytes(store):
    small_id = store.put(b"to be quarantined")
    large_id = store.put(b"L" * 100_000)
    for bid, content in ((small_id, b"to be quarantined"), (large_id, b"L" * 100_000)):
        moved = store.quarantine(bid, "test says so")
        assert moved.parent == store.quarantine_dir and moved.read_bytes() == content
        reason = moved.with_name(moved.name + ".reason").read_text()
        assert bid in reason and "test says so" in reason
        assert not store.has(bid)
    assert list(store.ids()) == []
    with pytest.raises(BlockNotFound):
        store.quarantine(small_id, "again")
    assert store.put(b"to be quarantined") == small_id and store.has(small_id)  # a good copy can come back


def test_temp_files_are_never_blocks(store):
    bid = store.put(b"x" * 100_000)
    temp = store.loose_path(bid).with_name(TEMP_PREFIX + "leftover")
    temp.write_bytes(b"half a block")
    assert list(store.ids()) == [bid]
    batch = store.loose_batch()
    batch.add(block_id(b"y" * 100_000), b"y" * 100_000)
    batch.abort()
    assert not store.has(block_id(b"y" * 100_000))
    assert sorted(p.name for p in store.objects.rglob("*") if p.is_file()) == sorted(
        [temp.name, store.loose_path(bid).name])


def test_a_wrong_sized_loose_file_is_replaced_by_a_put(store):
    data = os.urandom(100_000)
    bid = store.put(data)
    path = store.loose_path(bid)
    os.chmod(path, 0o644)
    path.write_bytes(data[:500])  # truncated by a crash of something else
    assert store.put(data) == bid
    assert store.get(bid) == data


PUT_SCRIPT = r"""
import sys, time
from pathlib import Path
from fixme.node.blocks import BlockStore
root, who, go = Path(sys.argv[1]), sys.argv[2].encode(), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
shared = [b"shared %d " % i * 20 for i in range(300)]
own = [b"own %s %d " % (who, i) * 20 for i in range(300)]
big = [bytes([i]) * 100_000 for i in range(1, 6)]
with BlockStore(root) as store:  # both open a store that does not exist yet
    for i in range(0, 300, 10):
        store.put_many(shared[i:i + 10] + own[i:i + 10])
    for block in shared[::7] + big:
        store.put(block)
    store.put_many(big)
"""


def _start_together(script: str, args: list[list[str]], go: Path) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", script, *a, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for a in args]
    time.sleep(0.3)  # let both import and wait at the starting line
    go.write_text("go")
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    return procs


def test_two_processes_write_the_same_and_different_blocks_at_once(tmp_path):
    root = tmp_path / "blocks"
    _start_together(PUT_SCRIPT, [[str(root), "a"], [str(root), "b"]], tmp_path / "go")
    with BlockStore(root) as store:
        ids = list(store.ids())
        assert len(ids) == len(set(ids)) == 300 + 2 * 300 + 5
        assert all(store.get(i) is not None for i in ids)  # every one verifies
        assert store.has(block_id(b"own b 299 " * 20)) and store.has(block_id(bytes([5]) * 100_000))
        assert not [p for p in store.objects.rglob(TEMP_PREFIX + "*")]


# -- refs ----------------------------------------------------------------------


def test_refs_get_update_delete_and_names(tmp_path):
    refs = Refs(tmp_path / "refs")
    assert refs.get("heads/main") is None and refs.names() == []
    assert refs.update("heads/main", lambda old: (old or b"") + b"1") == b"1"
    assert refs.update("heads/main", lambda old: old + b"2") == b"12"
    assert refs.update("heads", lambda old: b"a ref and a directory-like prefix coexist") is not None
    assert refs.update("x.lock", lambda old: b"not confused with a lock file") is not None
    assert refs.get("heads/main") == b"12"
    assert refs.names() == ["heads", "heads/main", "x.lock"]
    assert refs.update("heads/main", lambda old: None) is None
    assert refs.get("heads/main") is None and refs.names() == ["heads", "x.lock"]
    assert refs.update("never", lambda old: None) is None and "never" not in refs.names()


def test_a_failing_change_leaves_the_ref_alone(tmp_path):
    refs = Refs(tmp_path / "refs")
    refs.update("r", lambda old: b"kept")

    def boom(old):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        refs.update("r", boom)
    with pytest.raises(TypeError):
        refs.update("r", lambda old: "text, not bytes")
    assert refs.get("r") == b"kept"
    assert refs.update("r", lambda old: b"next") == b"next"  # the lock was released


@pytest.mark.parametrize("name", ["", "/", "a/", "/a", "a//b", ".", "..", "a/./b", "a/../b", "a b", "a\\b",
                                  "é", "a:b", "a~b", "a+b", "x" * 201, "a\nb"])
def test_bad_ref_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        Refs(tmp_path).update(name, lambda old: b"x")
    with pytest.raises(ValueError):
        Refs(tmp_path).get(name)


@pytest.mark.parametrize("name", ["main", "heads/main", "a.b-c_d/E9", ".hidden", "a..b", "x" * 200])
def test_good_ref_names(name):
    assert check_ref_name(name) == name


REF_SCRIPT = r"""
import sys, time
from pathlib import Path
from fixme.node.refs import Refs
refs, who, go = Refs(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
for i in range(50):
    refs.update("logs/main", lambda old: (old or b"") + f"{who}:{i}\n".encode())
"""


def test_two_processes_updating_one_ref_lose_nothing(tmp_path):
    root = tmp_path / "refs"
    _start_together(REF_SCRIPT, [[str(root), "a"], [str(root), "b"]], tmp_path / "go")
    lines = Refs(root).get("logs/main").decode().splitlines()
    assert len(lines) == 100
    for who in "ab":
        assert [line for line in lines if line.startswith(who)] == [f"{who}:{i}" for i in range(50)]


def test_open_node_storage_layout(tmp_path):
    store, refs = open_node_storage(tmp_path / "node")
    with store:
        store.put(b"x")
        refs.update("r", lambda old: b"y")
    assert (tmp_path / "node" / "blocks" / "blocks.db").is_file()
    assert (tmp_path / "node" / "refs" / "r").read_bytes() == b"y"


def test_a_write_batch_is_all_or_nothing_and_leaves_the_cache_as_it_was(tmp_path):
    from fixme.node.database import connect_wal, write_batch

    conn = connect_wal(tmp_path / "t.db", "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY)")
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    with write_batch(conn):
        conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(5)])
    with pytest.raises(sqlite3.IntegrityError):
        with write_batch(conn):
            conn.execute("INSERT INTO t VALUES (10)")
            conn.execute("INSERT INTO t VALUES (1)")  # taken: the whole batch goes
    assert [n for (n,) in conn.execute("SELECT k FROM t")] == [0, 1, 2, 3, 4]
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == before and not conn.in_transaction
    conn.close()
