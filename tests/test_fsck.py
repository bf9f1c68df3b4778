"""fsck: damage of every kind is found, repair quarantines it, and what is missing is reported."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time

import pytest

from fixme.node import canonical
from fixme.node.blobs import put_blob, read_manifest
from fixme.node.blocks import TEMP_PREFIX, BlockStore
from fixme.node.fsck import fsck
from fixme.node.hashing import block_id
from fixme.node.storage import open_node_storage
from test_blobs import MiB, pattern
from test_blocks import flip_db_byte, flip_file_byte


@pytest.fixture
def node(repo):
    """The block store and refs of the test repository, where `fixme fsck` looks."""
    store, refs = open_node_storage(repo.root / ".fixme" / "node")
    with store:
        yield store, refs


def record(parents: list[str], refs: list[str] | None = None, n: int = 0) -> bytes:
    doc = {"type": "record", "n": n, "parents": parents}
    if refs is not None:
        doc["refs"] = refs
    return canonical.encode(doc)


def heads(*ids: str) -> bytes:
    return canonical.encode(list(ids))


def kinds(report) -> list[tuple[str, str]]:
    return sorted((f.kind, f.subject) for f in report.faults)


def test_a_healthy_store_is_clean(node, cli):
    store, refs = node
    assert cli("fsck").out == "checked 0 blocks and 0 refs: no faults\n"  # nothing stored yet
    first = store.put(record([]))
    second = store.put(record([first], n=1))
    blob = put_blob(store, io.BytesIO(pattern(2 * MiB + 5)))
    store.put(b"an unreferenced block is not a fault")
    store.put(record([second], refs=[blob], n=2))
    refs.update("logs/main", lambda old: heads(second))
    refs.update("other", lambda old: b"not a list of ids: not checked")
    report = fsck(store, refs)
    assert report.clean and report.faults == [] and report.repaired == []
    assert report.checked == 3 + 1 + 4 and report.refs_checked == 2
    result = cli("fsck")
    assert result.code == 0 and result.out == "checked 8 blocks and 2 refs: no faults\n"
    data = json.loads(cli("fsck", "--format", "json").out)
    assert data["clean"] is True and data["faults"] == [] and data["checked"] == 8


def test_flipped_bit_in_a_sqlite_block_then_repair(node, cli):
    store, refs = node
    parent = store.put(record([]))
    child = store.put(record([parent], n=1))
    refs.update("logs/main", lambda old: heads(child))
    flip_db_byte(store, parent, offset=3)

    result = cli("fsck")
    assert result.code == 1
    assert result.out.splitlines()[0].startswith(f"corrupt {parent}: ")
    assert result.out.splitlines()[-1] == "checked 2 blocks and 1 refs: 1 fault"

    result = cli("fsck", "--repair")
    lines = result.out.splitlines()
    assert lines[0].startswith(f"repaired corrupt {parent}: ") and "quarantine" in lines[0]
    # The parent is now missing, which repair cannot fix: a sync must fetch it.
    assert lines[1] == f"missing {parent}: needed as parent of record {child}"
    assert result.code == 1
    quarantined = [p for p in store.quarantine_dir.iterdir() if not p.name.endswith(".reason")]
    assert len(quarantined) == 1 and quarantined[0].read_bytes() != record([])  # the damaged bytes, kept

    again = fsck(store, refs)
    assert kinds(again) == [("missing", parent)] and again.repaired == []
    store.put(record([]))  # what a sync would do
    assert cli("fsck").code == 0


def test_flipped_byte_in_a_loose_chunk_then_repair(node, cli):
    store, refs = node
    blob = put_blob(store, io.BytesIO(pattern(3 * MiB)))
    chunk = read_manifest(store, blob).chunks[1]
    flip_file_byte(store.loose_path(chunk), offset=MiB - 1)

    result = cli("fsck")
    assert result.code == 1 and result.out.startswith(f"corrupt {chunk}: ")
    result = cli("fsck", "--repair")
    assert result.code == 1
    assert f"repaired corrupt {chunk}" in result.out
    assert f"missing {chunk}: needed as chunk 1 of blob {blob}" in result.out
    assert not store.loose_path(chunk).exists()
    assert kinds(fsck(store, refs)) == [("missing", chunk)]
    put_blob(store, io.BytesIO(pattern(3 * MiB)))
    assert fsck(store, refs).clean


def test_empty_and_truncated_loose_files(node):
    store, refs = node
    blob = put_blob(store, io.BytesIO(pattern(3 * MiB)))
    chunks = read_manifest(store, blob).chunks
    for chunk, keep in ((chunks[0], 0), (chunks[1], 500_000), (chunks[2], 1000)):
        path = store.loose_path(chunk)
        os.chmod(path, 0o644)
        os.truncate(path, keep)
    report = fsck(store, refs)
    assert kinds(report) == sorted([("empty", chunks[0]), ("truncated", chunks[1]), ("truncated", chunks[2])])
    assert "only 500000 of 1048576 bytes" in next(f.message for f in report.faults if f.subject == chunks[1])
    repaired = fsck(store, refs, repair=True)
    assert sorted((f.kind, f.subject) for f in repaired.repaired) == kinds(report)
    assert kinds(repaired) == sorted(("missing", c) for c in chunks)


def test_an_empty_sqlite_block_and_a_malformed_key(node):
    store, refs = node
    good = store.put(b"fine")
    with sqlite3.connect(store.db_path) as conn:
        conn.execute("INSERT INTO blocks (digest, data) VALUES (?, ?)", (bytes.fromhex(block_id(b"")[7:]), b""))
        conn.execute("INSERT INTO blocks (digest, data) VALUES (?, ?)", ("not a digest", b"whatever"))
    conn.close()
    report = fsck(store, refs)
    assert [f.kind for f in sorted(report.faults, key=lambda f: f.kind)] == ["bad-id", "empty"]
    assert fsck(store, refs, repair=True).clean
    assert fsck(store, refs).clean and store.get(good) == b"fine"
    assert len(list(store.quarantine_dir.glob("*.reason"))) == 2


def test_missing_blocks_are_reported_with_who_needs_them(node):
    store, refs = node
    absent_chunk, absent_parent, absent_ref, absent_head = (block_id(b"%d" % i) for i in range(4))
    present = store.put(b"present")
    manifest = canonical.encode({"type": "blob", "size": 2 * MiB, "chunk_size": MiB,
                                 "chunks": [present, absent_chunk]})
    blob = store.put(manifest)
    rec = store.put(record([absent_parent, present], refs=[absent_ref]))
    store.put(record([absent_parent], n=7))
    refs.update("logs/main", lambda old: heads(rec, absent_head))
    report = fsck(store, refs)
    assert kinds(report) == sorted(("missing", i) for i in (absent_chunk, absent_parent, absent_ref, absent_head))
    messages = {f.subject: f.message for f in report.faults}
    assert messages[absent_chunk] == f"needed as chunk 1 of blob {blob}"
    assert messages[absent_parent].endswith("(and 1 more)")
    assert messages[absent_ref] == f"needed as ref of record {rec}"
    assert messages[absent_head] == "needed as head of ref logs/main"
    assert fsck(store, refs, repair=True).faults == report.faults  # nothing to quarantine; still missing


def test_temp_files_are_notices_only_when_stale(node):
    store, refs = node
    bid = store.put(b"z" * 100_000)
    young = store.loose_path(bid).with_name(TEMP_PREFIX + "young")
    stale = store.loose_path(bid).with_name(TEMP_PREFIX + "stale")
    young.write_bytes(b"being written")
    stale.write_bytes(b"left by a crash")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    report = fsck(store, refs)
    assert report.clean and len(report.notices) == 1 and "stale temp file" in report.notices[0]
    repaired = fsck(store, refs, repair=True)
    assert repaired.clean and not stale.exists() and young.exists()
    assert any(p.read_bytes() == b"left by a crash" for p in store.quarantine_dir.iterdir())
    assert fsck(store, refs).notices == []


def test_a_damaged_database_is_a_fault_not_a_traceback(repo, cli):
    store, _ = open_node_storage(repo.root / ".fixme" / "node")
    store.put(b"x")
    store.close()
    db = repo.root / ".fixme" / "node" / "blocks" / "blocks.db"
    for name in ("blocks.db-wal", "blocks.db-shm"):
        (db.parent / name).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 500)
    result = cli("fsck")
    assert result.code == 1 and result.out.startswith("database blocks.db: ")
    assert "Traceback" not in result.err
    json_result = cli("fsck", "--format", "json")
    assert json_result.code == 1 and json.loads(json_result.out)["faults"][0]["kind"] == "database"


def test_fsck_outside_a_repository(tmp_path):
    from conftest import run_cli

    result = run_cli("fsck", cwd=tmp_path)
    assert result.code == 2 and "not a git repository" in result.err


def test_fsck_json_lists_faults_and_repairs(node, cli):
    store, refs = node
    bid = store.put(b"soon damaged")
    flip_db_byte(store, bid)
    data = json.loads(cli("fsck", "--format", "json").out)
    assert data["clean"] is False and data["faults"] == [
        {"subject": bid, "kind": "corrupt", "message": data["faults"][0]["message"]}]
    result = cli("fsck", "--repair", "--format", "json")
    data = json.loads(result.out)
    assert result.code == 0 and data["clean"] is True and data["repaired"][0]["subject"] == bid
    assert BlockStore(store.root).missing([bid]) == {bid}
