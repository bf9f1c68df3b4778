"""Stores and recovery (issue 14, items 9-12), on real stores and real `fixme` processes.

Damage is done for real on the files: bytes flipped in blocks.db, records.db
and loose chunks, files truncated or deleted, refs overwritten; the full
disk is a real 2 MiB tmpfs under the receiving node's block store.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from fixme.node import canonical
from fixme.node.blocks import BlockStore
from fixme.node.hashing import PREFIX
from fixme.node.keys import key_text
from fixme.node.log import LogIndex, RecordLog
from fixme.node.records import sign_record
from fixme.node.storage import open_node_storage
from fixme.tracker.workflow import LOG_NAME, comment_payload, set_payload
from realnodes import DEADLINE, FIXME, Peer, git, project
from test_blocks import flip_file_byte

OWNER = SigningKey(b"o" * 32)   # a key the projects trust; records signed in-process
STRANGER = SigningKey(b"s" * 32)
HEADS = ".fixme/node/refs/logs~tracker~heads"


# -- helpers ------------------------------------------------------------------------

def node_dir(peer: Peer) -> Path:
    return peer.root / ".fixme" / "node"


def trusted_pair(tmp_path: Path) -> tuple[Peer, Peer]:
    """A project whose own key and OWNER are trusted, two entries, and a clone of it."""
    a = project(tmp_path / "a", tmp_path / "home-a", {"app.py": "# TODO: first task\n# FIXME: second task\n"})
    a.fixme("trust", "add", a.key(), "--name", "a")
    a.fixme("trust", "add", key_text(bytes(OWNER.verify_key)), "--name", "owner")
    git(a.root, "commit", "-qam", "trust a and owner")
    git(tmp_path, "clone", "-q", str(a.root), str(tmp_path / "b"))
    return a, Peer(tmp_path / "b", tmp_path / "home-b")


def entry_ids(peer: Peer) -> list[str]:
    return sorted(e["id"] for e in json.loads(peer.fixme("list", "--all", "--format", "json").stdout))


def heads_of(peer: Peer) -> list[str]:
    return canonical.decode((peer.root / HEADS).read_bytes())


def owner_records(peer: Peer, count: int, entry: str, parents: list[str] | None = None) -> list[str]:
    """`count` records by OWNER, a chain on top of `parents`, stored as sync would store them."""
    store, refs = open_node_storage(node_dir(peer))
    index = LogIndex(node_dir(peer) / "records.db")
    log = RecordLog(store, refs, index, LOG_NAME)
    heads = log.heads() if parents is None else parents
    clock = 1 + max(index.clocks(heads).values(), default=0)
    records = []
    for n in range(count):
        payload = (set_payload(entry, "workflow", ("wip", "test", "done")[n % 3]) if n % 2
                   else comment_payload(entry, f"note {n} " + "x" * 150))
        records.append(sign_record(OWNER, LOG_NAME, heads, clock + n, 1_700_000_000_000 + n, payload))
        heads = [records[-1].id]
    for start in range(0, len(records), 20_000):
        log.ingest_verified(records[start:start + 20_000])
    index.close()
    store.close()
    return [r.id for r in records]


def checkpoint(db: Path) -> None:
    """Move every committed page from the WAL into the database file, so a flip there is real."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def flip_in_file(path: Path, needle: bytes, offset: int) -> None:
    """Flip one bit of `needle`'s bytes where they lie in the file (a bad sector, not an UPDATE)."""
    raw = path.read_bytes()
    at = raw.find(needle)
    assert at >= 0, "the bytes are not in the file"
    with open(path, "r+b") as fh:
        fh.seek(at + offset)
        fh.write(bytes([raw[at + offset] ^ 0x04]))


def no_traceback(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-3000:]
    return proc


def fsck_json(peer: Peer, *args: str) -> tuple[int, dict]:
    proc = no_traceback(peer.fixme("fsck", *args, "--format", "json", check=False))
    return proc.returncode, json.loads(proc.stdout)


# -- 9: records.db lost --------------------------------------------------------------

def test_a_lost_records_db_is_rebuilt_from_the_blocks_by_list_writes_and_the_node(tmp_path):
    """Issue 14.9: without records.db every entry went back to its initial state, and sync fetched nothing."""
    a, c = trusted_pair(tmp_path)
    first, second = entry_ids(a)
    a.set_workflow(first, "wip")
    a.fixme("comment", first, "started")
    a.set_workflow(second, "done")
    before = a.states()
    assert before == {first: "wip", second: "done"}
    old_heads = heads_of(a)

    for name in ("records.db", "records.db-wal", "records.db-shm"):
        (node_dir(a) / name).unlink(missing_ok=True)
    listed = no_traceback(a.fixme("list", "--all", "--format", "json"))
    assert {e["id"]: e["workflow"] for e in json.loads(listed.stdout)} == before
    assert "records.db is missing: rebuilt it from the blocks" in listed.stderr
    assert "3 records indexed" in listed.stderr
    assert a.fixme("fsck").returncode == 0

    # A write after the loss lands on top of the old heads, not as a clock-1 root that loses to them.
    (node_dir(a) / "records.db").unlink()
    a.set_workflow(second, "wip")
    assert a.states() == {first: "wip", second: "wip"}
    index = LogIndex(node_dir(a) / "records.db")
    [newest] = heads_of(a)
    assert index.get(newest).parents == tuple(old_heads)
    index.close()

    # A node started over a lost index serves every record: a fresh clone gets them all.
    (node_dir(a) / "records.db").unlink()
    address = a.start()
    try:
        synced = no_traceback(c.fixme("sync", address, "--format", "json"))
    finally:
        a.stop()
    assert json.loads(synced.stdout)["sessions"][0]["records_in"] == 4
    assert c.states() == {first: "wip", second: "wip"}


def test_a_records_db_that_is_not_a_database_is_kept_aside_and_rebuilt(tmp_path):
    a, _ = trusted_pair(tmp_path)
    first, _ = entry_ids(a)
    a.set_workflow(first, "done")
    db = node_dir(a) / "records.db"
    db.write_bytes(b"not a database at all " * 300)
    listed = no_traceback(a.fixme("list", "--all", "--format", "json"))
    assert {e["id"]: e["workflow"] for e in json.loads(listed.stdout)}[first] == "done"
    [kept] = [p for p in (node_dir(a) / "blocks" / "quarantine").iterdir() if p.name.endswith("-records.db")]
    assert kept.read_bytes() == b"not a database at all " * 300  # the damaged file is kept, not deleted
    assert a.fixme("log", "--format", "json").returncode == 0


def test_when_neither_records_db_nor_the_blocks_can_be_read_list_says_so_in_one_line(tmp_path):
    a, _ = trusted_pair(tmp_path)
    first, _ = entry_ids(a)
    a.set_workflow(first, "done")
    (node_dir(a) / "records.db").write_bytes(b"junk" * 1000)
    blocks = node_dir(a) / "blocks" / "blocks.db"
    checkpoint(blocks)
    blocks.write_bytes(os.urandom(64 * 1024))
    for command in (["list"], ["log"], ["set-workflow", first, "wip"]):
        proc = no_traceback(a.fixme(*command, check=False))
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert "records.db is damaged" in proc.stderr and "run 'fixme fsck --repair'" in proc.stderr


def test_a_rebuild_applies_every_rule_of_ingest(tmp_path):
    """The rebuilt index holds exactly what ingest would accept from the same blocks."""
    from fixme.node.rebuild import rebuild_index

    entry = "e" * 40
    good = []
    for n in range(6):
        good.append(sign_record(OWNER, LOG_NAME, [good[-1].id] if good else [], n + 1, 1_700_000_000_000 + n,
                                set_payload(entry, "workflow", "wip" if n % 2 else "done")))
    fork = sign_record(STRANGER, LOG_NAME, [good[2].id], 4, 1_700_000_000_100, comment_payload(entry, "fork"))
    merge = sign_record(OWNER, LOG_NAME, sorted([good[-1].id, fork.id]), 7, 1_700_000_000_200,
                        comment_payload(entry, "merge"))
    runaway = sign_record(OWNER, LOG_NAME, [good[1].id], 2 + 1025, 1_700_000_000_300, comment_payload(entry, "far"))
    after_runaway = sign_record(OWNER, LOG_NAME, [runaway.id], 2 + 1026, 1_700_000_000_400, comment_payload(entry, "x"))
    late = sign_record(OWNER, LOG_NAME, [good[3].id], 4, 1_700_000_000_500, comment_payload(entry, "late"))
    absent = sign_record(OWNER, LOG_NAME, [], 1, 1_700_000_000_600, comment_payload(entry, "never stored"))
    orphan = sign_record(OWNER, LOG_NAME, [absent.id], 2, 1_700_000_000_700, comment_payload(entry, "orphan"))
    other_log = sign_record(OWNER, "other", [], 1, 1_700_000_000_800, {"op": "note"})
    forged = bytearray(sign_record(OWNER, LOG_NAME, [good[0].id], 2, 1_700_000_000_900,
                                   comment_payload(entry, "forged")).data)
    forged[forged.index(b"forged")] = ord("F")  # same signature, other content: a bad signature
    blocks = [r.data for r in (*good, fork, merge, runaway, after_runaway, late, orphan, other_log)] + [bytes(forged)]

    store = BlockStore(tmp_path / "node" / "blocks")
    random.Random(3).shuffle(blocks)
    store.put_many(blocks)
    store.put(canonical.encode({"type": "blob", "size": 0, "chunk_size": 1024, "chunks": []}))  # not a record
    store.close()
    report = rebuild_index(tmp_path / "node", "test")

    expected = {r.id for r in (*good, fork, merge, other_log)}
    index = LogIndex(tmp_path / "node" / "records.db")
    assert {rid for rid, _ in index.rows()} == expected
    assert report.indexed == len(expected) and report.waiting == 1
    reasons = {r.id: r.reason for r in report.rejected}
    assert reasons[runaway.id] == "clock 1027 runs more than 1024 ahead of its parents' (2)"
    assert reasons[after_runaway.id] == f"parent {runaway.id} was refused"
    assert reasons[late.id] == f"clock 4 does not exceed parent {good[3].id}'s"
    assert reasons[PREFIX + hashlib.sha256(bytes(forged)).hexdigest()] == "bad signature"
    # Parents are indexed before their children, and each log's heads ref is written.
    seqs = {rid: n for n, (rid, _) in enumerate(index.rows())}
    assert all(seqs[p] < seqs[rid] for rid in expected for p in index.get(rid).parents)
    refs = open_node_storage(tmp_path / "node")[1]
    assert canonical.decode(refs.get("logs/tracker/heads")) == [merge.id]
    assert canonical.decode(refs.get("logs/other/heads")) == [other_log.id]

    # The same blocks through ingest, in another order, give the same log.
    other_store, other_refs = open_node_storage(tmp_path / "ingested")
    other_index = LogIndex(tmp_path / "ingested" / "records.db")
    for name in (LOG_NAME, "other"):
        RecordLog(other_store, other_refs, other_index, name).ingest(list(reversed(blocks)))
    assert {rid for rid, _ in other_index.rows()} == expected
    index.close()
    other_index.close()


# -- 10: repair, then refetch --------------------------------------------------------

def attached_pair(tmp_path: Path) -> tuple[Peer, Peer, str, bytes, str]:
    """A (with a 3 MiB attachment and a few records) and B, synced from A's running node."""
    a, b = trusted_pair(tmp_path)
    first, _ = entry_ids(a)
    data = os.urandom(3 * 1024 * 1024 + 77)
    (tmp_path / "trace.bin").write_bytes(data)
    a.set_workflow(first, "wip")
    a.fixme("attach", first, str(tmp_path / "trace.bin"))
    a.fixme("comment", first, "looking")
    a.set_workflow(first, "done")
    address = a.start()
    no_traceback(b.fixme("sync", address))
    assert b.states()[first] == "done"
    return a, b, first, data, address


def blob_of(peer: Peer) -> tuple[str, list[str]]:
    from fixme.node.blobs import read_manifest

    store = BlockStore(node_dir(peer) / "blocks")
    [blob] = [row.block_id for row in store.small_blocks() if row.data.endswith(b',"type":"blob"}')]
    chunks = list(read_manifest(store, blob).chunks)
    store.close()
    return blob, chunks


def record_bytes(peer: Peer, record_id: str) -> bytes:
    store = BlockStore(node_dir(peer) / "blocks")
    data = store.get(record_id)
    store.close()
    return data


def test_after_repair_a_sync_fetches_the_quarantined_head_record_and_chunk_again(tmp_path):
    """Issue 14.10: heads looked identical and a held manifest counted as the whole blob: nothing came back."""
    a, b, entry, data, address = attached_pair(tmp_path)
    try:
        [head] = heads_of(b)
        blob, chunks = blob_of(b)
        db = node_dir(b) / "blocks" / "blocks.db"
        checkpoint(db)
        flip_in_file(db, record_bytes(b, head), offset=40)
        flip_file_byte(BlockStore(node_dir(b) / "blocks").loose_path(chunks[1]), offset=1000)

        repaired = no_traceback(b.fixme("fsck", "--repair", check=False))
        assert repaired.returncode == 1, repaired.stdout
        assert f"repaired corrupt {head}" in repaired.stdout
        assert f"repaired corrupt {chunks[1]}" in repaired.stdout
        assert f"repaired incomplete {blob}" in repaired.stdout
        assert f"missing {blob}: needed as ref of record" in repaired.stdout
        assert f"peers this node has synced with: {address}" in repaired.stdout   # who can bring them back
        assert b.states()[entry] == "wip"   # the head is out of the index, its parent rules again
        assert head not in heads_of(b)

        synced = json.loads(no_traceback(b.fixme("sync", address, "--format", "json")).stdout)
        assert synced["sessions"][0]["records_in"] == 1
        [fetch] = synced["blobs"]
        assert fetch["blob"] == blob and fetch["fetched"] == 1 and fetch["already"] == 3
        assert no_traceback(b.fixme("fsck", check=False)).returncode == 0
        assert b.states()[entry] == "done" and heads_of(b) == [head]
        out = tmp_path / "back.bin"
        b.fixme("attachment", "get", entry, "trace.bin", "-o", str(out))
        assert out.read_bytes() == data
    finally:
        a.stop()


def test_fsck_repair_from_a_peer_fetches_what_repair_left_missing(tmp_path):
    """Issue 14.10: `fixme fsck --repair --from PEER` ends with a clean store."""
    a, b, entry, data, address = attached_pair(tmp_path)
    try:
        records = json.loads(b.fixme("log", "--format", "json").stdout)
        middle = sorted(records, key=lambda r: r["record_id"])[1]["record_id"]   # not necessarily a head
        db = node_dir(b) / "blocks" / "blocks.db"
        checkpoint(db)
        flip_in_file(db, record_bytes(b, middle), offset=60)
        _, chunks = blob_of(b)
        os.chmod(BlockStore(node_dir(b) / "blocks").loose_path(chunks[0]), 0o644)
        os.truncate(BlockStore(node_dir(b) / "blocks").loose_path(chunks[0]), 1000)

        code, report = fsck_json(b, "--repair", "--from", address)
        assert code == 0, report
        assert report["clean"] and report["fetched"]["records_in"] >= 1 and report["fetched"]["errors"] == []
        assert {f["subject"] for f in report["repaired"]} >= {middle, chunks[0]}
        assert fsck_json(b)[0] == 0
        assert b.states()[entry] == "done"
        assert {r["record_id"] for r in json.loads(b.fixme("log", "--format", "json").stdout)} == \
            {r["record_id"] for r in records}
    finally:
        a.stop()


# -- 11: fsck sees everything, repair never crashes ----------------------------------------

RECORD_SPAN = re.compile(rb'\{"author":"ed25519:.*?,"type":"record","v":1\}', re.DOTALL)


def record_spans(raw: bytes) -> dict[str, tuple[int, int]]:
    """block id -> (start, end) of each record stored whole in a database file's bytes."""
    return {PREFIX + hashlib.sha256(m.group()).hexdigest(): m.span() for m in RECORD_SPAN.finditer(raw)}


def test_200_flipped_bytes_in_blocks_db_fsck_sees_every_damaged_block_and_repair_does_not_crash(tmp_path):
    """Issue 14.11: fsck checked 212 of 30,222 blocks and reported 2 faults; --repair crashed."""
    a, _ = trusted_pair(tmp_path)
    first, _ = entry_ids(a)
    ids = owner_records(a, 30_000, first)
    db = node_dir(a) / "blocks" / "blocks.db"
    checkpoint(db)
    raw = db.read_bytes()
    spans = record_spans(raw)
    assert set(ids) <= set(spans)
    conn = sqlite3.connect(db)
    rowids = {PREFIX + bytes(d).hex(): r for r, d in conn.execute("SELECT rowid, digest FROM blocks")}
    conn.close()

    rng = random.Random(14)
    flips = sorted(rng.sample(range(100, len(raw)), 200))   # past the 100-byte file header
    with open(db, "r+b") as fh:
        for at in flips:
            fh.seek(at)
            fh.write(bytes([raw[at] ^ (1 << rng.randrange(8))]))
    damaged = {bid for bid, (start, end) in spans.items() if any(start <= at < end for at in flips)}
    assert len(damaged) > 100

    code, report = fsck_json(a)
    assert code == 1
    assert report["checked"] > 29_900
    seen = {f["subject"] for f in report["faults"] if f["kind"] in ("corrupt", "truncated", "missing")}
    unreadable = _unreadable_rows(report)
    for bid in damaged:
        assert bid in seen or any(lo <= rowids[bid] <= hi for lo, hi in unreadable), bid
    assert any(f["subject"] == "blocks.db" and f["kind"] == "database" for f in report["faults"])

    repaired = no_traceback(a.fixme("fsck", "--repair", check=False))
    assert repaired.returncode == 1 and "repaired database blocks.db" in repaired.stdout
    quarantined = repaired.stdout.count("repaired corrupt ") + repaired.stdout.count("repaired truncated ")
    code, after = fsck_json(a)
    assert {f["kind"] for f in after["faults"]} == {"missing"}   # what only a peer can bring back
    assert after["checked"] == report["checked"] - quarantined
    no_traceback(a.fixme("list"))


def _unreadable_rows(report: dict) -> list[tuple[int, int]]:
    spans = []
    for fault in report["faults"]:
        match = re.search(r"blocks\.db: rows? (\d+)(?:-(\d+))? cannot be read", fault["message"])
        if match:
            spans.append((int(match.group(1)), int(match.group(2) or match.group(1))))
    return spans


def test_a_truncated_blocks_db_fsck_repair_and_sync_answer_without_a_traceback(tmp_path):
    """Issue 14.11: a truncated blocks.db crashed fsck, repair and sync."""
    a, b = trusted_pair(tmp_path)
    first, second = entry_ids(a)
    owner_records(a, 3000, first)
    data = os.urandom(2 * 1024 * 1024 + 5)
    (tmp_path / "core.bin").write_bytes(data)
    a.fixme("attach", second, str(tmp_path / "core.bin"))
    a.set_workflow(second, "done")
    address = a.start()
    try:
        no_traceback(b.fixme("sync", address))
        db = node_dir(b) / "blocks" / "blocks.db"
        checkpoint(db)
        os.truncate(db, db.stat().st_size // 2)

        code, report = fsck_json(b)
        assert code == 1 and report["faults"][0]["subject"] == "blocks.db"
        assert 1000 < report["checked"] < 3000   # the rows before the cut are still checked
        synced = no_traceback(b.fixme("sync", address, check=False))
        assert "database damaged" in synced.stdout and "run 'fixme fsck --repair'" in synced.stdout

        repaired = no_traceback(b.fixme("fsck", "--repair", check=False))
        assert "repaired database blocks.db" in repaired.stdout
        no_traceback(b.fixme("sync", address))
        assert fsck_json(b)[0] == 0
        assert b.states()[second] == "done"
        out = tmp_path / "back.bin"
        b.fixme("attachment", "get", second, "core.bin", "-o", str(out))
        assert out.read_bytes() == data
    finally:
        a.stop()


def test_flipped_bytes_in_records_db_are_seen_by_fsck_and_never_crash_list(tmp_path):
    """Issue 14.11: records.db flips crashed `list` while fsck said clean."""
    a, _ = trusted_pair(tmp_path)
    first, second = entry_ids(a)
    owner_records(a, 2000, first)
    a.set_workflow(second, "done")
    before = a.states()
    db = node_dir(a) / "records.db"
    checkpoint(db)
    raw = bytearray(db.read_bytes())
    rng = random.Random(11)
    for at in rng.sample(range(100, len(raw)), 60):
        raw[at] ^= 1 << rng.randrange(8)
    db.write_bytes(bytes(raw))

    code, report = fsck_json(a)
    assert code == 1 and [f["kind"] for f in report["faults"] if f["subject"] == "records.db"] == ["index"]
    # `list` reads only the records that arrived since the kept fold (.fixme/cache/folded.bin):
    # none did, so it answers from it, rightly, without meeting the damage.
    assert a.states() == before
    (a.root / ".fixme" / "cache" / "folded.bin").unlink()
    listed = no_traceback(a.fixme("list", "--all", check=False))
    # Reading every record hit the damage: records.db was rebuilt from the blocks, and nothing was lost.
    assert listed.returncode == 0 and "records.db is damaged" in listed.stderr
    assert "rebuilt it from the blocks" in listed.stderr
    assert a.states() == before
    assert fsck_json(a)[0] == 0

    # The same damage again, and fsck --repair rebuilds it this time.
    db.write_bytes(bytes(raw))
    repaired = no_traceback(a.fixme("fsck", "--repair", check=False))
    assert repaired.returncode == 0 and "repaired index records.db" in repaired.stdout
    assert "rebuilt it from the blocks" in repaired.stdout
    assert fsck_json(a)[0] == 0
    assert a.states() == before


@pytest.mark.parametrize("damage", ["empty", "deleted", "not JSON", "not an id"])
def test_a_damaged_heads_ref_is_found_the_node_still_serves_the_log_and_repair_rewrites_it(tmp_path, damage):
    """Issue 14.11: a heads ref that is empty, deleted, not JSON or names a non-id went unnoticed,
    and sync then crashed or announced nothing."""
    a, c = trusted_pair(tmp_path)
    first, second = entry_ids(a)
    a.set_workflow(first, "wip")
    a.set_workflow(second, "done")
    heads = heads_of(a)
    ref = a.root / HEADS
    if damage == "deleted":
        ref.unlink()
    else:
        ref.write_bytes({"empty": b"", "not JSON": b"{oops", "not an id": b'["sha256:nothex"]'}[damage])

    code, report = fsck_json(a)
    assert code == 1
    assert [f["kind"] for f in report["faults"] if f["subject"] == "logs/tracker/heads"] == ["ref"]

    address = a.start()
    try:
        synced = json.loads(no_traceback(c.fixme("sync", address, "--format", "json")).stdout)
    finally:
        a.stop()
    assert synced["sessions"][0]["error"] is None and synced["sessions"][0]["records_in"] == 2
    assert c.states() == {first: "wip", second: "done"}

    no_traceback(a.fixme("fsck", "--repair", check=False))
    assert fsck_json(a)[0] == 0 and heads_of(a) == heads


# -- 12: a full disk -------------------------------------------------------------------------

def small_disk(peer: Peer, size: str = "2m") -> tuple[list[str], Path]:
    """The command prefix that runs a command in a mount namespace of its own (the mount ends
    with it) where the peer's block store is a tmpfs of `size`, and that directory.
    Skips when this machine cannot mount one."""
    blocks = node_dir(peer) / "blocks"
    blocks.mkdir(parents=True, exist_ok=True)
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a small tmpfs with")
    unshare = ["unshare", "-m", "--propagation", "private"] if os.geteuid() == 0 else ["unshare", "-rm"]
    probe = subprocess.run([*unshare, "mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(blocks)],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {probe.stderr.decode(errors='replace').strip()}")
    return [*unshare, "sh", "-c", f'mount -t tmpfs -o size={size} tmpfs "$0" && exec "$@"', str(blocks)], blocks


def start_on_small_disk(peer: Peer, size: str = "2m") -> str:
    """Start `fixme node run` with its block store on a tmpfs of `size`; its address."""
    prefix, _ = small_disk(peer, size)
    args = ["node", "run", "--listen", "127.0.0.1:0", "--no-discovery", "--interval", "0.5", "-v"]
    log = open(peer.log_path, "a")
    peer.node = subprocess.Popen([*prefix, *FIXME, "-C", str(peer.root), *args], stdout=log, stderr=log,
                                 env=peer.env())
    log.close()
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        running = json.loads(peer.fixme("node", "status", "--format", "json").stdout)["running"]
        if running:
            return running["listen"]
        assert peer.node.poll() is None, peer.log_path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"node did not start: {peer.log_path.read_text()}")


def test_a_node_whose_disk_fills_while_it_receives_says_disk_full_to_the_peer(tmp_path):
    """Issue 14.12: the error was hidden behind "cannot rollback - no transaction is active", no
    `error` went to the peer, and the client printed "peer closed the session early"."""
    a, b = trusted_pair(tmp_path)
    first, _ = entry_ids(a)
    owner_records(b, 8000, first)   # ~4 MiB of records, for a 2 MiB disk
    address = start_on_small_disk(a)
    try:
        synced = no_traceback(b.fixme("sync", address, check=False))
    finally:
        a.stop()
    assert "peer reported an error: disk full" in synced.stdout, synced.stdout
    assert "session failed" in synced.stdout
    assert "peer closed the session early" not in synced.stdout + synced.stderr
    log = a.log_path.read_text()
    assert "disk full (database or disk is full)" in log
    assert "cannot rollback" not in log and "Traceback" not in log


def test_a_blob_that_does_not_fit_says_disk_full_and_leaves_no_partial_block(tmp_path):
    """Issue 14.12, fetching: a chunk cut short by the full disk was committed under its real name."""
    a, b = trusted_pair(tmp_path)
    first, _ = entry_ids(a)
    (tmp_path / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    a.fixme("attach", first, str(tmp_path / "big.bin"))
    address = a.start()
    try:
        prefix, _ = small_disk(b)
        # fsck runs in the same namespace, on the same small disk, right after the sync.
        fixme = " ".join(FIXME + ["-C", str(b.root)])
        script = f"{fixme} sync {address}; echo '=== fsck'; {fixme} fsck --format json"
        proc = subprocess.run([*prefix, "sh", "-c", script], capture_output=True, text=True, env=b.env(),
                              timeout=120)
    finally:
        a.stop()
    synced, checked = proc.stdout.split("=== fsck\n")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "cannot store it: disk full" in synced, synced
    faults = json.loads(checked)["faults"]
    assert faults and {f["kind"] for f in faults} == {"missing"}, faults   # nothing half-written under a real name


def test_a_sync_warns_when_the_block_store_lost_the_records_the_log_ends_with(tmp_path):
    """A lost `.fixme/node/blocks` with records.db intact: sync said '0 out' and nothing else,
    while announcing records no peer could get from it."""
    a, b = trusted_pair(tmp_path)
    first, _ = entry_ids(a)
    a.set_workflow(first, "wip")
    shutil.rmtree(node_dir(a) / "blocks")
    address = b.start()
    try:
        text = a.fixme("sync", address)
        assert "missing from its block store" in text.stderr and "fixme fsck" in text.stderr, text.stderr
        no_traceback(text)
        report = json.loads(a.fixme("sync", address, "--format", "json").stdout)
        [warning] = report["warnings"]
        assert "1 record this node's log ends with" in warning
    finally:
        b.stop()
    b.set_workflow(first, "backlog")   # B's store is whole: its syncs warn of nothing
    address = a.start()
    try:
        healthy = json.loads(b.fixme("sync", address, "--format", "json").stdout)
    finally:
        a.stop()
    assert healthy["warnings"] == [] and healthy["sessions"][0]["error"] is None
