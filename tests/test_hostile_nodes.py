"""Hostile peers against real fixme processes on 127.0.0.1.

The victim is a real `fixme` process (a `sync`, or a running `fixme node
run`) in a real repository; the hostile peer runs in the test, written with
the protocol's own handshake and codec (hostile_peers.FakePeer). Memory is
measured on the victim process itself, whose address space is capped so that
a runaway allocation fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import time
from pathlib import Path

from nacl.signing import SigningKey

from fixme.node.blobs import put_blob
from fixme.node.blocks import BlockStore
from fixme.node.keys import key_text
from fixme.node.messages import BlobStatus, HaveBlob, LogHeads, NotFound, Records, WantBlock, WantRecords, make_block
from fixme.node.records import sign_record
from fixme.tracker.workflow import LOG_NAME, attach_payload
from hostile_peers import FakePeer
from realnodes import Peer, git, project

OWNER = SigningKey(b"o" * 32)      # trusted by the victim's project
HOSTILE = SigningKey(b"m" * 32)    # the hostile node's identity: it holds the network key, nothing more
LIMIT = 60.0


def run(coro, limit: float = LIMIT):
    async def bounded():
        async with asyncio.timeout(limit):
            return await coro
    return asyncio.run(bounded())


def victim_and_clone(tmp_path: Path) -> tuple[Peer, Peer]:
    """A project that trusts OWNER, and a clone of it (same network key) with its own home."""
    victim = project(tmp_path / "victim", tmp_path / "home-victim", {"app.py": "# TODO: first task\n"})
    victim.fixme("trust", "add", key_text(bytes(OWNER.verify_key)), "--name", "owner")
    git(victim.root, "commit", "-qam", "trust owner")
    git(tmp_path, "clone", "-q", str(victim.root), str(tmp_path / "clone"))
    return victim, Peer(tmp_path / "clone", tmp_path / "home-clone")


def test_a_blob_status_claiming_four_billion_chunks_is_refused_without_expanding_it(tmp_path):
    """Issue 14.1: `ranges: [[0, 2^32]]` for a blob of 4 chunks once built a set of 2^32 ints."""
    victim, holder = victim_and_clone(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 5)   # 4 chunks of 1 MiB
    scratch = BlockStore(tmp_path / "scratch")
    blob = put_blob(scratch, io.BytesIO(data))
    manifest = scratch.get(blob)
    (tmp_path / "big.bin").write_bytes(data)
    assert holder.fixme("node", "put", str(tmp_path / "big.bin")).stdout.strip() == blob
    honest = holder.start()

    # A record the victim stores (its author is trusted) that references the blob.
    record = sign_record(OWNER, LOG_NAME, [], 1, int(time.time() * 1000),
                         attach_payload("e" * 40, "big.bin", blob, len(data)), refs=[blob])

    def answer(request):
        if isinstance(request, WantRecords):
            return [Records(1), make_block(record.data)]
        if isinstance(request, WantBlock) and request.id == blob:
            return [make_block(manifest)]
        if isinstance(request, HaveBlob):
            return [BlobStatus(blob, ((0, 2**32),))]
        return [NotFound(blob)]

    async def main():
        fake = FakePeer(victim.network_key(), answer, logs=[LogHeads(LOG_NAME, (record.id,))], key=HOSTILE)
        hostile = await fake.start()
        try:
            return await asyncio.to_thread(victim.measured, "sync", hostile, honest, "--format", "json")
        finally:
            await fake.close()

    try:
        result = run(main())
    finally:
        holder.stop()
    assert result.code == 0, result.err
    assert result.peak_rss < 200 * 1024 * 1024, f"peak RSS {result.peak_rss / 2**20:.0f} MiB"
    report = json.loads(result.out)
    assert [s["error"] for s in report["sessions"]] == [None, None]
    assert report["sessions"][0]["records_in"] == 1
    [fetch] = report["blobs"]
    assert report["blob_errors"] == [] and fetch["complete"] and fetch["fetched"] == fetch["chunks"] == 4
    assert list(fetch["by_peer"]) != list(fetch["dropped"])
    [why] = fetch["dropped"].values()
    assert why == "blob_status claims chunks up to 4294967295 of a blob of 4 chunks"
    out = tmp_path / "fetched.bin"
    victim.fixme("node", "get", blob, "-o", str(out))
    assert out.read_bytes() == data
    peers = json.loads(victim.fixme("node", "peers", "--format", "json").stdout)
    assert peers[key_text(bytes(HOSTILE.verify_key))]["faults"] == 1   # counted like a bad chunk


CLOCK_MAX = 2**63 - 1   # the largest integer a canonical document may hold


def entry_id(peer: Peer) -> str:
    [entry] = json.loads(peer.fixme("list", "--all", "--format", "json").stdout)
    return entry["id"]


def assert_every_kind_of_write_works(peer: Peer, entry: str, tmp_path: Path) -> None:
    """set-workflow, set, comment and attach all land, and list shows the state they set."""
    (tmp_path / "trace.log").write_text("a trace\n")
    for args in (("set-workflow", entry, "wip"), ("set", entry, "assigned", "grace"),
                 ("comment", entry, "on it"), ("attach", entry, str(tmp_path / "trace.log"))):
        proc = peer.fixme(*args, check=False)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
    [shown] = json.loads(peer.fixme("list", "--format", "json").stdout)
    assert shown["workflow"] == "wip"


def test_a_record_with_a_huge_clock_is_refused_and_writes_go_on(tmp_path):
    """Issue 14.2: one record with clock 2^63-1 by a trusted key made every later write fail."""
    victim = project(tmp_path / "victim", tmp_path / "home-victim", {"app.py": "# TODO: first task\n"})
    victim.fixme("trust", "add", key_text(bytes(OWNER.verify_key)), "--name", "owner")
    victim.fixme("trust", "add", victim.key(), "--name", "me")
    entry = entry_id(victim)
    poisoned = sign_record(OWNER, LOG_NAME, [], CLOCK_MAX, int(time.time() * 1000),
                           {"op": "set", "entry": entry, "attr": "workflow", "value": "done"})
    # A sound record far ahead, but within the bound, is accepted.
    ahead = sign_record(OWNER, LOG_NAME, [], 1024, int(time.time() * 1000),
                        {"op": "comment", "entry": entry, "text": "clock 1024"})

    def answer(request):
        found = [r for r in (poisoned, ahead) if r.id in request.ids]
        return [Records(len(found), tuple(i for i in request.ids if i not in {r.id for r in found})),
                *(make_block(r.data) for r in found)]

    async def main():
        fake = FakePeer(victim.network_key(), answer, logs=[LogHeads(LOG_NAME, (ahead.id, poisoned.id))],
                        key=HOSTILE)
        hostile = await fake.start()
        try:
            return await asyncio.to_thread(victim.fixme, "sync", hostile, "--format", "json")
        finally:
            await fake.close()

    [session] = json.loads(run(main()).stdout)["sessions"]
    assert session["records_in"] == 1
    assert session["refused"] == [f"{poisoned.id}: clock {CLOCK_MAX} runs more than 1024 ahead of its parents' (0)"]
    assert_every_kind_of_write_works(victim, entry, tmp_path)


def test_a_store_holding_a_huge_clock_from_an_older_fixme_can_be_written_again(tmp_path):
    """Issue 14.2: a record an older fixme accepted is dropped from the index on first open."""
    from fixme.node.log import LogIndex, RecordLog
    from fixme.node.storage import open_node_storage
    from fixme.tracker.changes import INDEX_FILE, node_dir

    victim = project(tmp_path / "victim", tmp_path / "home-victim", {"app.py": "# TODO: first task\n"})
    victim.fixme("trust", "add", key_text(bytes(OWNER.verify_key)), "--name", "owner")
    victim.fixme("trust", "add", victim.key(), "--name", "me")
    entry = entry_id(victim)
    victim.fixme("set-workflow", entry, "test")   # an honest record before the poisoned one

    # Store it as the older fixme did: in the blocks, the index and the heads ref, no clock bound.
    store, refs = open_node_storage(node_dir(victim.root))
    index = LogIndex(node_dir(victim.root) / INDEX_FILE)
    log = RecordLog(store, refs, index, LOG_NAME)
    [honest] = log.heads()
    poisoned = sign_record(OWNER, LOG_NAME, [honest], CLOCK_MAX, int(time.time() * 1000),
                           {"op": "set", "entry": entry, "attr": "workflow", "value": "done"})
    store.put(poisoned.data)
    index.add([poisoned])
    log._move_heads([poisoned])
    index.db.execute("PRAGMA user_version=0")
    assert log.heads() == [poisoned.id]
    index.close()
    store.close()

    assert_every_kind_of_write_works(victim, entry, tmp_path)   # wip, not the poisoned "done"
    records = json.loads(victim.fixme("log", "--format", "json").stdout)
    assert poisoned.id not in {r["record_id"] for r in records}
    assert [r["value"] for r in records if r["attr"] == "workflow"] == ["wip", "test"]
    assert victim.fixme("fsck").returncode == 0


def test_dangling_references_cost_each_sync_a_bounded_number_of_questions(tmp_path):
    """Issue 14.5: 50 attach records with 64 references each to blocks nobody has made every
    later honest sync ask for all 3,200 of them (12-14 s, a log line each)."""
    victim, holder = victim_and_clone(tmp_path)
    entry = entry_id(victim)
    dangling = [[hashlib.sha256(f"nothing {i} {j}".encode()).hexdigest() for j in range(64)] for i in range(50)]
    records = [sign_record(OWNER, LOG_NAME, [], 1, int(time.time() * 1000),
                           attach_payload(entry, f"trace-{i}.log", "sha256:" + refs[0], 10),
                           refs=["sha256:" + r for r in refs]) for i, refs in enumerate(dangling)]
    by_id = {r.id: r for r in records}

    def answer(request):
        if isinstance(request, WantRecords):
            found = [by_id[i] for i in request.ids if i in by_id]
            return [Records(len(found), tuple(i for i in request.ids if i not in by_id)),
                    *(make_block(r.data) for r in found)]
        return [NotFound(request.id if isinstance(request, WantBlock) else request.manifest)]

    async def pull_the_references():
        fake = FakePeer(victim.network_key(), answer, logs=[LogHeads(LOG_NAME, tuple(sorted(by_id)))], key=HOSTILE)
        hostile = await fake.start()
        try:
            return await asyncio.to_thread(victim.fixme, "sync", hostile, "--format", "json")
        finally:
            await fake.close()

    first = json.loads(run(pull_the_references()).stdout)
    assert first["sessions"][0]["records_in"] == 50
    honest = holder.start()
    try:
        for _ in range(3):  # each a new process: what was learnt is remembered on disk
            started = time.monotonic()
            later = json.loads(victim.fixme("sync", honest, "--format", "json").stdout)
            assert time.monotonic() - started < 5.0, "a sync asked for every dangling reference again"
            assert later["sessions"][0]["error"] is None
            assert len(later["blob_errors"]) == 1 and "no peer has" in later["blob_errors"][0]
    finally:
        holder.stop()
    remembered = json.loads((victim.root / ".fixme" / "node" / "references.json").read_text())
    assert len(remembered) == 4 * 64 and all(r["tries"] == 1 for r in remembered.values())


def add_owner_records(peer: Peer, entry: str, count: int) -> str:
    """`count` set-workflow records by OWNER on top of the peer's log (its node stopped), each
    naming the latest two as people editing at once would make; the state the last one sets."""
    from fixme.node.log import LogIndex, RecordLog
    from fixme.node.storage import open_node_storage
    from fixme.tracker.changes import INDEX_FILE, node_dir
    from fixme.tracker.workflow import set_payload

    directory = node_dir(peer.root)
    store, refs = open_node_storage(directory)
    index = LogIndex(directory / INDEX_FILE)
    try:
        log = RecordLog(store, refs, index, LOG_NAME)
        heads = log.heads()
        clocks = index.clocks(heads)
        recent = sorted((clocks[h], h) for h in heads)
        made, state = [], ""
        for n in range(count):
            state = ("wip", "test", "done")[n % 3]
            parents = recent[-2:]
            clock = 1 + max((c for c, _ in parents), default=0)
            record = sign_record(OWNER, LOG_NAME, [p for _, p in parents], clock, 1_700_000_000_000 + n,
                                 set_payload(entry, "workflow", state))
            made.append(record.data)
            recent = (recent + [(clock, record.id)])[-2:]
        for start in range(0, count, 5000):
            report = log.ingest(made[start:start + 5000])
            assert not report.rejected and not report.waiting
    finally:
        index.close()
        store.close()
    return state


def test_a_pull_does_not_hold_its_records_in_memory(tmp_path):
    """Issue 14.7: a pull held ~2.5 KB per record until its walk ended (400,000 records:
    828 MB). Pulling three times the records must not take more memory than the first."""
    victim, clone = victim_and_clone(tmp_path)
    entry = entry_id(victim)
    peaks = []
    for total in (20_000, 60_000):
        last_state = add_owner_records(victim, entry, total - (peaks and 20_000 or 0))
        address = victim.start()
        try:
            shutil.rmtree(clone.root / ".fixme" / "node", ignore_errors=True)
            pull = clone.measured("sync", address, "--format", "json", memory_limit=2 << 30)
        finally:
            victim.stop()
        assert pull.code == 0, pull.err
        [session] = json.loads(pull.out)["sessions"]
        assert session["error"] is None and session["records_in"] == total
        peaks.append(pull.peak_rss)
    grown = peaks[1] - peaks[0]
    # Held in memory, the 40,000 more records would be ~100 MB more.
    assert grown < 25 << 20, f"40,000 more records cost {grown >> 20} MB more ({peaks[0] >> 20} -> {peaks[1] >> 20} MB)"
    assert entry_id(clone) == entry
    assert json.loads(clone.fixme("show", entry, "--format", "json").stdout)["workflow"] == last_state
