"""Hostile peers against a real node.

In every test a real `Node` serves on 127.0.0.1 from its own directory, a
peer misbehaves in one way, and the test checks three things: the node goes
on serving an honest peer (a fresh honest `Node.sync` against it gets every
record it should), nothing bad was stored (blocks, index and heads are
unchanged, or hold only good records), and the node's log says why.

The hostile peers are small: a raw socket, a client that does an honest
handshake and then writes what it likes (`hostile_session`), or a scripted
peer (`FakePeer`) that announces a log and answers requests as told.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import time
from contextlib import asynccontextmanager
from pathlib import Path

from nacl.signing import SigningKey

from conftest import run_cli
from hostile_peers import FakePeer
from fixme.node import canonical, hashing
from fixme.node.blobs import iter_blob, put_blob, read_manifest
from fixme.node.channel import LENGTH_SIZE, MAX_PAYLOAD, ChannelClosed, ChannelError
from fixme.node.fetch import MAX_FAULTS
from fixme.node.handshake import HandshakeError, Session, connect, initiate
from fixme.node.keys import key_text
from fixme.node.messages import (
    BLOCK,
    MAX_IDS_PER_MESSAGE,
    TYPE_CODES,
    BlobStatus,
    Error,
    HaveBlob,
    HelloLogs,
    LogHeads,
    NotFound,
    Records,
    WantBlock,
    WantChunk,
    WantRecords,
    make_block,
)
from fixme.node.node import Node, NodeSettings
from fixme.node.peer import MAX_OUTSTANDING
from fixme.node.records import sign_record

HOST = "127.0.0.1"
NETWORK = bytes(range(32))
OTHER_NETWORK = bytes(range(1, 33))
LOG = "tracker"
LIMIT = 8.0                              # no test may hang longer than this

OWNER = SigningKey(b"o" * 32)            # the trusted author of the served node's records
STRANGER = SigningKey(b"x" * 32)         # a valid key nobody trusts
SERVER_KEY = SigningKey(b"s" * 32)       # node identities
HONEST_KEY = SigningKey(b"h" * 32)
HOSTILE_KEY = SigningKey(b"m" * 32)
TRUSTED = frozenset({key_text(bytes(OWNER.verify_key))})


def run(coro, limit: float = LIMIT):
    """Run a test's coroutine on a fresh loop; a hang fails after `limit` seconds."""
    async def bounded():
        async with asyncio.timeout(limit):
            return await coro
    return asyncio.run(bounded())


def make_node(path: Path, identity: SigningKey, network_key: bytes = NETWORK,
              trusted=TRUSTED) -> Node:
    accept = (lambda log, author: True) if trusted is None else (lambda log, author: author in trusted)
    settings = NodeSettings(identity, network_key, (LOG,), accept, handshake_timeout=2.0, idle_timeout=5.0)
    return Node(path, settings)


def write_records(node: Node, key: SigningKey, texts) -> None:
    for text in texts:
        node.local.logs[LOG].append(key, {"op": "comment", "entry": "e" * 40, "text": text})


def _stored(node: Node) -> dict:
    log = node.local.logs[LOG]
    return {"blocks": sorted(node.local.store.ids()),
            "records": sorted(record.id for _, record in log.records()),
            "heads": log.heads()}


async def state(node: Node) -> dict:
    """What a node holds: every block, every indexed record, its log's heads."""
    return await node.local.call(_stored, node)


@asynccontextmanager
async def served(tmp_path: Path, records: int = 3):
    """The node under test, holding `records` records of a trusted author, serving on port 0."""
    node = make_node(tmp_path / "node", SERVER_KEY)
    write_records(node, OWNER, [f"good {i}" for i in range(records)])
    server = await node.serve(HOST, 0)
    try:
        yield node, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
        node.close()


async def assert_serves_an_honest_peer(tmp_path: Path, node: Node, port: int, name: str = "honest") -> None:
    """A fresh honest node syncs with `node` and ends up holding exactly its records."""
    expected = await state(node)
    honest = make_node(tmp_path / name, HONEST_KEY)
    try:
        result = await honest.sync([f"{HOST}:{port}"])
        [session] = result.sessions
        assert session.error is None, session.error
        assert session.refused == [] and session.records_in == len(expected["records"]) > 0
        got = await state(honest)
        assert (got["records"], got["heads"]) == (expected["records"], expected["heads"])
    finally:
        honest.close()


def log_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records]


async def wait_for_log(caplog, *parts: str) -> str:
    """The first log line holding every one of `parts`, polled for until a deadline."""
    deadline = asyncio.get_running_loop().time() + 3.0
    while True:
        for line in log_lines(caplog):
            if all(part in line for part in parts):
                return line
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no log line with {parts!r}: {log_lines(caplog)}")
        await asyncio.sleep(0.01)


# -- hostile helpers ----------------------------------------------------------------

class Wire:
    """The write side of a client's socket, as the handshake and channel see it;
    it can also flip a byte of the next sealed frame, or write raw bytes."""

    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer
        self.flip_next_frame = False

    def write(self, data: bytes) -> None:
        if self.flip_next_frame and len(data) > LENGTH_SIZE:  # the sealed part, not its length
            self.flip_next_frame = False
            data = data[:10] + bytes([data[10] ^ 0x01]) + data[11:]
        self.writer.write(data)

    def __getattr__(self, name):  # drain, close, transport, get_extra_info ...
        return getattr(self.writer, name)


async def hostile_session(port: int, key: SigningKey = HOSTILE_KEY) -> tuple[Session, Wire]:
    """A client that did a correct handshake with the node and now writes what it likes."""
    reader, writer = await asyncio.open_connection(HOST, port)
    wire = Wire(writer)
    session = await initiate(reader, wire, key, NETWORK, timeout=2.0, idle_timeout=5.0)
    return session, wire


async def messages_until_closed(session: Session) -> list:
    """Every message the node still sends on this session, until it hangs up."""
    received = []
    while True:
        try:
            received.append(await session.recv_message())
        except (ChannelClosed, ChannelError):
            return received


def errors_in(messages: list) -> list[str]:
    return [m.reason for m in messages if isinstance(m, Error)]


# -- 1. not a hello ---------------------------------------------------------------------

def test_random_bytes_instead_of_a_hello(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            noise = random.Random(7).randbytes(120)
            for first in (b"\x01", b"\xee"):  # our version byte with a random rest; another version
                reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(first + noise)
                try:
                    answer = await reader.read()
                except ConnectionResetError:  # closed with some of our noise unread
                    answer = b""
                assert answer == b""  # not a byte back: the node says nothing before a good hello
                writer.close()
            await wait_for_log(caplog, "handshake with 127.0.0.1:", "failed: bad hello MAC")
            await wait_for_log(caplog, "handshake with 127.0.0.1:", "failed: unsupported protocol version 238")
            assert await state(node) == before
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 2. a 4 GB frame ----------------------------------------------------------------------

def test_a_frame_length_of_4_gb_is_refused_before_reading(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            session, wire = await hostile_session(port)
            wire.write(b"\xff\xff\xff\xff" + b"A" * 100)  # a length prefix of 4 GiB - 1, raw
            told = errors_in(await messages_until_closed(session))  # at once: it does not wait for 4 GB
            wire.close()
            assert len(told) == 1 and "frame length 4294967295 exceeds MAX_FRAME" in told[0]
            await wait_for_log(caplog, "session with 127.0.0.1:", "frame length 4294967295 exceeds MAX_FRAME")
            assert await state(node) == before
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 3. a frame that fails authentication -----------------------------------------------

def test_a_frame_that_fails_authentication(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            session, wire = await hostile_session(port)
            wire.flip_next_frame = True
            await session.send_message(HelloLogs((LogHeads(LOG, (hashing.block_id(b"x"),)),)))
            told = errors_in(await messages_until_closed(session))
            wire.close()
            assert len(told) == 1 and "frame failed authentication" in told[0]
            await wait_for_log(caplog, "session with 127.0.0.1:", "frame failed authentication")
            assert await state(node) == before
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 4. another network's key -----------------------------------------------------------

def test_the_wrong_network_key(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            outsider = make_node(tmp_path / "outsider", HOSTILE_KEY, network_key=OTHER_NETWORK, trusted=None)
            write_records(outsider, OWNER, ["from another network"])
            try:
                result = await outsider.sync([f"{HOST}:{port}"])
            finally:
                outsider.close()
            [session] = result.sessions
            assert session.error is not None and "closed by the peer during the handshake" in session.error
            assert session.records_in == session.records_out == 0
            try:
                await connect(HOST, port, HOSTILE_KEY, OTHER_NETWORK, timeout=2.0)
                raise AssertionError("a client of another network got a session")
            except HandshakeError as exc:
                assert "closed by the peer" in str(exc)
            line = await wait_for_log(caplog, "handshake with 127.0.0.1:", "failed: bad hello MAC")
            assert "another network key?" in line
            assert await state(node) == before
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 5. a record with a bad signature ----------------------------------------------------

def tampered_signature(data: bytes) -> bytes:
    """The record with one hex digit of its signature changed (still canonical)."""
    doc = canonical.decode(data)
    sig = doc["sig"]
    doc["sig"] = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    return canonical.encode(doc)


def test_a_record_with_a_bad_signature_is_refused(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            good = sign_record(OWNER, LOG, before["heads"], 99, 1_700_000_000_000,
                               {"op": "comment", "entry": "e" * 40, "text": "forged"})
            bad = make_block(tampered_signature(good.data))  # re-hashed: the id matches the bytes

            def answer(request):
                if isinstance(request, WantRecords) and bad.id in request.ids:
                    return [Records(1), bad]
                return [Records(0, missing=tuple(request.ids))]
            fake = FakePeer(NETWORK, answer, logs=[LogHeads(LOG, (bad.id,))])
            address = await fake.start()
            try:
                result = await node.sync([address])
            finally:
                await fake.close()
            [session] = result.sessions
            assert session.error is None, session.error
            assert session.records_in == 0
            assert session.refused == [f"{bad.id}: bad signature"]
            await wait_for_log(caplog, f"refused record {bad.id[:19]}", "bad signature")
            after = await state(node)
            assert after == before and bad.id not in after["blocks"]
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


def test_a_parent_answered_with_junk_is_asked_for_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            junk = make_block(b"these bytes are not a record")   # their id is their hash, as the codec wants
            child = sign_record(OWNER, LOG, [junk.id], 99, 1_700_000_000_000,
                                {"op": "comment", "entry": "e" * 40, "text": "my parent is junk"})

            def answer(request):
                if child.id in request.ids:
                    return [Records(1), make_block(child.data)]
                if junk.id in request.ids:
                    return [Records(1), junk]
                return [Records(0, missing=tuple(request.ids))]
            fake = FakePeer(NETWORK, answer, logs=[LogHeads(LOG, (child.id,))])
            address = await fake.start()
            try:
                result = await node.sync([address])
            finally:
                await fake.close()
            [session] = result.sessions
            assert session.error is None, session.error
            assert [r.ids for r in fake.requests] == [(child.id,), (junk.id,)]   # and not again, and again
            assert [r.split(": ")[:2] for r in session.refused] == [[junk.id, "not a record"]]
            assert session.waiting == 1
            after = await state(node)
            assert after == before
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 6. a record from an untrusted author -------------------------------------------------

def test_a_record_from_an_untrusted_author_is_refused(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            # A real node whose log holds two correctly signed records by a key nobody trusts.
            hostile = make_node(tmp_path / "hostile", HOSTILE_KEY, trusted=None)
            write_records(hostile, STRANGER, ["not yours to write", "nor this"])
            offered = (await state(hostile))["records"]
            try:
                result = await hostile.sync([f"{HOST}:{port}"])  # it dials; the node pulls from it
            finally:
                hostile.close()
            assert result.sessions[0].error is None
            for record_id in offered:
                line = await wait_for_log(caplog, f"refused record {record_id[:19]}")
                assert "is not trusted here" in line and key_text(bytes(STRANGER.verify_key))[:24] in line
            after = await state(node)
            assert after == before and not set(offered) & set(after["blocks"])
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 7. bad chunks --------------------------------------------------------------------------

CHUNK = 1024


def blob_of(store, data: bytes) -> str:
    return put_blob(store, io.BytesIO(data), chunk_size=CHUNK)


def chunk_liar(store, blob_ids, wrong_chunk):
    """A FakePeer answer: it has every chunk of `blob_ids`, and sends `wrong_chunk(index, chunk id)`."""
    manifests = {blob: read_manifest(store, blob) for blob in blob_ids}
    manifest_blocks = {blob: make_block(store.get(blob)) for blob in blob_ids}

    def answer(request):
        if isinstance(request, WantBlock) and request.id in manifests:
            return [manifest_blocks[request.id]]
        if isinstance(request, HaveBlob):
            held = manifests.get(request.manifest)
            return [BlobStatus(request.manifest, ((0, len(held.chunks)),) if held else ())]
        if isinstance(request, WantChunk) and request.manifest in manifests:
            return [wrong_chunk(request.index, manifests[request.manifest].chunks[request.index])]
        if isinstance(request, WantRecords):
            return [Records(0, missing=tuple(request.ids))]
        return [NotFound(request.id if isinstance(request, WantBlock) else request.manifest)]
    return answer


@asynccontextmanager
async def blob_holders(tmp_path: Path, datas: list[bytes], wrong_chunk):
    """An honest node serving blobs of `datas`, and a FakePeer claiming them but lying about chunks;
    yields (blob ids, the fake, its address, the honest node's address)."""
    holder = make_node(tmp_path / "holder", HONEST_KEY)
    blobs = [blob_of(holder.local.store, data) for data in datas]
    server = await holder.serve(HOST, 0)
    fake = FakePeer(NETWORK, chunk_liar(holder.local.store, blobs, wrong_chunk))
    fake_address = await fake.start()
    try:
        yield blobs, fake, fake_address, f"{HOST}:{server.sockets[0].getsockname()[1]}"
    finally:
        await fake.close()
        server.close()
        await server.wait_closed()
        holder.close()


def blob_bytes(node: Node, blob: str) -> bytes:
    return b"".join(iter_blob(node.local.store, blob))  # every chunk verified against the manifest


def test_a_wrong_chunk_drops_the_peer_for_the_blob_counts_a_fault_and_bans_at_three(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")
    datas = [random.Random(i).randbytes(8 * CHUNK + 100) for i in range(MAX_FAULTS)]
    fake_key = bytes(HOSTILE_KEY.verify_key)

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            def wrong(index, chunk_id):  # a genuine block (it hashes to its id), not the chunk asked for
                return make_block(b"evil %d " % index * 100)
            async with blob_holders(tmp_path, datas, wrong) as (blobs, liar, fake, honest):
                result = await node.sync([fake, honest], blob_ids=[blobs[0]])  # the liar is asked first
                [report] = result.blobs
                assert result.blob_errors == [] and report.complete
                assert list(report.dropped.values()) == ["sent a bad chunk"]
                assert len(report.by_peer) == 1 and report.by_peer.keys().isdisjoint(report.dropped)
                assert report.fetched == report.chunks == 9  # every chunk from the honest peer
                assert any(isinstance(r, WantChunk) for r in liar.requests)
                assert node.faults.faults[fake_key] == 1 and not node.faults.is_banned(fake_key)
                assert blob_bytes(node, blobs[0]) == datas[0]
                await wait_for_log(caplog, "sent a bad chunk", f"of {blobs[0]}: dropped for this blob")

                result = await node.sync([fake, honest], blob_ids=blobs[1:])  # two more faults: banned
                assert [r.complete for r in result.blobs] == [True, True]
                assert node.faults.is_banned(fake_key)
                await wait_for_log(caplog, "sent a bad chunk", "and banned for a while")
                assert [blob_bytes(node, b) for b in blobs] == datas

                result = await node.sync([fake, honest])
                assert [s.error for s in result.sessions] == ["banned for sending bad data", None]

                # The ban is in peers.json, and a restarted node keeps it.
                entry = node.book.peers()[key_text(fake_key)]
                assert entry["faults"] == MAX_FAULTS and entry["banned_until"] / 1000 > time.time()
                restarted = make_node(tmp_path / "node", SERVER_KEY)
                try:
                    assert restarted.faults.is_banned(fake_key)
                    assert not restarted.faults.is_banned(bytes(HONEST_KEY.verify_key))
                    result = await restarted.sync([fake])
                    assert [s.error for s in result.sessions] == ["banned for sending bad data"]
                finally:
                    restarted.close()
            after = await state(node)
            evil = {hashing.block_id(b"evil %d " % i * 100) for i in range(8)}
            assert not evil & set(after["blocks"])
            assert after["records"] == before["records"] and after["heads"] == before["heads"]
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


def test_a_chunk_that_does_not_hash_to_its_id_ends_the_session_and_the_blob_comes_from_another_peer(
        tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")
    data = random.Random(5).randbytes(6 * CHUNK)

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            def corrupt(index, chunk_id):  # the right chunk id, the wrong bytes: a protocol error
                return bytes([BLOCK]) + chunk_id.encode() + b"\0" * CHUNK
            async with blob_holders(tmp_path, [data], corrupt) as ([blob], _, fake, honest):
                result = await node.sync([fake, honest], blob_ids=[blob])
            [report] = result.blobs
            assert report.complete and blob_bytes(node, blob) == data
            [why] = report.dropped.values()
            assert "block: data does not match its id" in why
            assert "block: data does not match its id" in result.sessions[0].error
            assert result.sessions[1].error is None
            # It counts as a fault of that peer, like a wrong chunk (three of them ban it).
            assert sum(node.faults.faults.values()) == 1 and not node.faults.banned_until
            await wait_for_log(caplog, "session with 127.0.0.1:", "block: data does not match its id")
            after = await state(node)
            assert hashing.block_id(b"\0" * CHUNK) not in after["blocks"]
            assert after["records"] == before["records"]
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 8. floods ----------------------------------------------------------------------------

def test_a_want_list_of_a_million_ids_ends_that_session(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")
    # A million ids (74 MB) cannot fit one frame; send as many as fit, 15 times the cap.
    fit = (MAX_PAYLOAD - 64) // (hashing.ID_LENGTH + 3)
    assert 1_000_000 > fit > 10 * MAX_IDS_PER_MESSAGE
    ids = [hashing.block_id(i.to_bytes(4, "big")) for i in range(fit)]
    payload = bytes([TYPE_CODES["want_records"]]) + canonical.encode({"have": [], "ids": ids})
    assert len(payload) <= MAX_PAYLOAD

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            session, wire = await hostile_session(port)
            await session.send(payload)
            told = errors_in(await messages_until_closed(session))
            wire.close()
            reason = f"want_records.ids: list length must be in [1, {MAX_IDS_PER_MESSAGE}]"
            assert len(told) == 1 and reason in told[0]
            await wait_for_log(caplog, "session with 127.0.0.1:", reason)
            assert await state(node) == before
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


def test_more_than_max_outstanding_requests_unread_drops_the_peer(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fixme")

    async def main():
        async with served(tmp_path) as (node, port):
            before = await state(node)
            session, wire = await hostile_session(port)
            unknown = hashing.block_id(b"nothing")
            for _ in range(4 * MAX_OUTSTANDING):  # and never read an answer
                await session.send_message(WantRecords((unknown,)))
            await wait_for_log(caplog, "session with 127.0.0.1:", f"more than {MAX_OUTSTANDING} requests outstanding")
            told = errors_in(await messages_until_closed(session))
            wire.close()
            assert told == [f"more than {MAX_OUTSTANDING} requests outstanding"]
            assert await state(node) == before
            await assert_serves_an_honest_peer(tmp_path, node, port)
    run(main())


# -- 9. an attachment named ../../etc/passwd ----------------------------------------------

PASSWD = b"root:x:0:0:owned:/root:/bin/sh\n"

def test_an_attachment_named_to_climb_out_is_refused(repo, tmp_path, caplog):
    from fixme.config import load_config
    from fixme.tracker.attachments import safe_name
    from fixme.tracker.changes import node_dir
    from fixme.tracker.network import TrustList
    from fixme.tracker.workflow import LOG_NAME, attach_payload

    caplog.set_level(logging.INFO, logger="fixme")
    assert LOG_NAME == LOG
    evil = "../../etc/passwd"
    assert not safe_name(evil)

    def cli(*argv):
        return run_cli(*argv, cwd=repo.root)
    repo.write("src/net.py", "# TODO: atomic-ref-update\n")
    repo.commit("start")
    assert cli("init").code == 0
    [entry] = json.loads(cli("list", "--all", "--format", "json").out)
    mallory = SigningKey(b"M" * 32)  # trusted by the project, and hostile
    assert cli("trust", "add", key_text(bytes(mallory.verify_key)), "--name", "Mallory").code == 0
    network_key = load_config(repo.root).network_key_bytes()
    outside = tmp_path.parent / "etc" / "passwd"  # where repo/../../etc/passwd points
    assert (repo.root / evil).resolve() == outside.resolve()

    async def main():
        settings = NodeSettings(SigningKey(b"r" * 32), network_key, (LOG_NAME,), TrustList(repo.root),
                                handshake_timeout=2.0, idle_timeout=5.0)
        node = Node(node_dir(repo.root), settings)
        server = await node.serve(HOST, 0)
        port = server.sockets[0].getsockname()[1]
        peer = Node(tmp_path / "mallory", NodeSettings(mallory, network_key, (LOG_NAME,), lambda log, a: True))
        try:
            blob = blob_of(peer.local.store, PASSWD)
            record = peer.local.logs[LOG_NAME].append(mallory, attach_payload(entry["id"], evil, blob, len(PASSWD)),
                                                      refs=[blob])
            result = await peer.sync([f"{HOST}:{port}"])  # it dials; the repository's node pulls
            assert result.sessions[0].error is None
            await wait_for_log(caplog, "1 records in")
            held = await state(node)
            assert held["records"] == [record.id] and blob in held["blocks"]  # a valid, trusted record
            honest = Node(tmp_path / "honest", NodeSettings(HONEST_KEY, network_key, (LOG_NAME,),
                                                            TrustList(repo.root)))
            try:
                [session] = (await honest.sync([f"{HOST}:{port}"])).sessions
                assert session.error is None and session.records_in == 1
            finally:
                honest.close()
        finally:
            peer.close()
            server.close()
            await server.wait_closed()
            node.close()
    run(main())

    got = cli("attachment", "get", entry["id"], evil)
    assert got.code != 0 and got.out == ""
    assert got.err.startswith(f"fixme: refused attachment name {evil!r}") and got.err.count("\n") == 1
    assert not outside.exists() and not (tmp_path / "etc").exists() and not (repo.root / "etc").exists()
    shown = cli("show", entry["id"])
    assert shown.code == 0
    assert f"{evil!r} ({len(PASSWD)} bytes) [unsafe name: refused as a file name]" in shown.out


def test_node_peers_shows_a_peers_bad_chunks_and_its_ban(repo):
    from fixme.node.book import NodeBook, now_ms
    from fixme.tracker.changes import node_dir

    repo.write("app.py", "# TODO: something\n")
    repo.commit("start")
    assert run_cli("init", cwd=repo.root).code == 0
    book = NodeBook(node_dir(repo.root))
    banned, faulty = key_text(bytes(HOSTILE_KEY.verify_key)), key_text(bytes(STRANGER.verify_key))
    book.record_contact(banned, address="127.0.0.1:7001", last_contact=now_ms())
    for _ in range(MAX_FAULTS):   # as Node records them (see _remember_fault)
        book.record_contact(banned, faults=1)
    book.record_contact(banned, banned_until=now_ms() + 600_000)
    book.record_contact(faulty, address="127.0.0.1:7002", last_contact=now_ms(), faults=1)

    result = run_cli("node", "peers", cwd=repo.root)
    assert result.code == 0, result.err
    lines = {line.split()[0]: line for line in result.out.splitlines()}
    assert "banned until" in lines["127.0.0.1:7001"] and "(3 bad chunks)" in lines["127.0.0.1:7001"]
    assert "banned" not in lines["127.0.0.1:7002"] and lines["127.0.0.1:7002"].endswith("1 bad chunk")
    as_json = json.loads(run_cli("node", "peers", "--format", "json", cwd=repo.root).out)
    assert as_json[banned]["faults"] == 3 and as_json[banned]["banned_until"] > now_ms()
