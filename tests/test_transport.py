"""The node's transport: handshake, sealed channel, message codec.

Real sockets on 127.0.0.1, no mocks. A small tampering proxy sits between a
real client and a real server where a test needs to alter the sealed frames.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import pytest
from nacl.bindings import crypto_kx_keypair
from nacl.signing import SigningKey

from fixme.node import canonical, hashing
from fixme.node.admission import Admission, ConnectionLimits
from fixme.node.channel import (
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    ChannelClosed,
    ChannelError,
    SecureChannel,
)
from fixme.node.handshake import (
    HELLO_SIZE,
    ROLE_INITIATOR,
    ROLE_RESPONDER,
    HandshakeError,
    Session,
    build_hello,
    connect,
    respond,
    serve,
)
from fixme.node.messages import (
    MAX_BLOCK_DATA,
    MAX_IDS_PER_MESSAGE,
    TYPE_CODES,
    BlobStatus,
    Block,
    Bye,
    Error,
    HaveBlob,
    HelloLogs,
    LogHeads,
    NotFound,
    ProtocolError,
    Records,
    WantChunk,
    WantBlock,
    WantRecords,
    decode_message,
    encode_message,
    make_block,
)

HOST = "127.0.0.1"
NETWORK = bytes(range(32))
OTHER_NETWORK = bytes(range(1, 33))
SERVER = SigningKey(b"s" * 32)
CLIENT = SigningKey(b"c" * 32)
STRANGER = SigningKey(b"x" * 32)
LOGGER = "fixme.node.handshake"


def run(coro, limit: float = 10.0):
    """Run a test's coroutine on a fresh loop, never for longer than `limit`."""
    return asyncio.run(asyncio.wait_for(coro, limit))


def port_of(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


async def start(on_session, identity=SERVER, network_key=NETWORK, **kw) -> tuple[asyncio.Server, int]:
    server = await serve(HOST, 0, identity, network_key, on_session, **kw)
    return server, port_of(server)


async def echo(session: Session) -> None:
    while True:
        try:
            payload = await session.recv()
        except ChannelClosed:
            return
        await session.send(payload)


def recorder(outcomes: asyncio.Queue):
    """A session handler that queues every payload received, then the error that ended it."""
    async def on_session(session: Session) -> None:
        while True:
            try:
                outcomes.put_nowait(await session.recv())
            except ChannelError as exc:
                outcomes.put_nowait(exc)
                return
    return on_session


async def raw_listener(handler) -> tuple[asyncio.Server, int]:
    """A plain TCP listener running `handler(reader, writer)`, which closes the connection."""
    async def run_handler(reader, writer):
        try:
            await handler(reader, writer)
        finally:
            writer.close()
    server = await asyncio.start_server(run_handler, HOST, 0)
    return server, port_of(server)


async def responder_outcome(**kw):
    """A listener running `respond` directly; the future gets its Session or exception."""
    outcome = asyncio.get_running_loop().create_future()

    async def handler(reader, writer):
        try:
            outcome.set_result(await respond(reader, writer, SERVER, NETWORK, **kw))
        except Exception as exc:
            outcome.set_exception(exc)
    server, port = await raw_listener(handler)
    return server, port, outcome


async def tamper_proxy(target_port: int, tamper) -> tuple[asyncio.Server, int]:
    """Forward both directions; pass each client->server frame through
    `tamper(index, frame) -> list of byte strings to send` (a None in it: hang up there)
    (index 0 is the client's identity frame, 1 its first application frame)."""
    async def pipe(reader, writer, tamper_frame):
        try:
            for size in (HELLO_SIZE, HEADER_SIZE):  # each as soon as it arrives
                writer.write(await reader.readexactly(size))
                await writer.drain()
            index = 0
            while True:
                head = await reader.readexactly(4)
                frame = head + await reader.readexactly(int.from_bytes(head, "big"))
                index += 1
                for chunk in tamper_frame(index - 1, frame):
                    if chunk is None:
                        return
                    writer.write(chunk)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def handler(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(HOST, target_port)
        await asyncio.gather(pipe(client_reader, server_writer, tamper),
                             pipe(server_reader, client_writer, lambda i, f: [f]))
    return await raw_listener(handler)


async def wait_for_log(caplog, text: str) -> None:
    for _ in range(200):
        if any(text in record.getMessage() for record in caplog.records):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no log line with {text!r}: {[r.getMessage() for r in caplog.records]}")


# -- handshake ------------------------------------------------------------------

def test_handshake_authenticates_both_sides():
    async def main():
        seen = asyncio.get_running_loop().create_future()

        async def on_session(session):
            seen.set_result((session.peer_key, session.role))
            await echo(session)
        server, port = await start(on_session)
        async with server:
            async with await connect(HOST, port, CLIENT, NETWORK) as session:
                assert session.peer_key == bytes(SERVER.verify_key)
                assert session.role == "initiator"
                await session.send(b"ping")
                assert await session.recv() == b"ping"
            assert await seen == (bytes(CLIENT.verify_key), "responder")
    run(main())


def test_frames_round_trip_many_and_large():
    async def main():
        server, port = await start(echo)
        async with server:
            async with await connect(HOST, port, CLIENT, NETWORK) as session:
                for i in range(300):
                    payload = bytes([i % 256]) * (i * 37)
                    await session.send(payload)
                    assert await session.recv() == payload
                for size in (0, 1, MAX_PAYLOAD - 1, MAX_PAYLOAD):
                    payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
                    await session.send(payload)
                    assert await session.recv() == payload
                with pytest.raises(ValueError):
                    await session.send(b"x" * (MAX_PAYLOAD + 1))
                block = make_block(b"\xfe" * MAX_BLOCK_DATA)
                await session.send_message(block)
                assert await session.recv_message() == block
                # Pipelined: many frames in flight before any answer is read.
                await asyncio.gather(*(session.send(b"%d" % i) for i in range(200)))
                assert [await session.recv() for _ in range(200)] == [b"%d" % i for i in range(200)]
                # Many frames in one write, big and small, still one frame each.
                batch = [b"%d" % i * (i % 7) for i in range(1025)] + [b"", b"\x01" * MAX_PAYLOAD, b"end"]
                await session.send_many(batch)
                assert [await session.recv() for _ in batch] == batch
                with pytest.raises(ValueError):
                    await session.send_many([b"fine", b"x" * (MAX_PAYLOAD + 1)])
                await session.send(b"still usable")  # nothing of the refused batch went out
                assert await session.recv() == b"still usable"
    run(main())


def test_other_network_key_fails_on_both_sides():
    async def main():
        server, port, outcome = await responder_outcome()
        async with server:
            with pytest.raises(HandshakeError, match="closed by the peer"):
                await connect(HOST, port, CLIENT, OTHER_NETWORK)
            with pytest.raises(HandshakeError, match="bad hello MAC"):
                await outcome
    run(main())


def test_client_checks_the_responders_hello():
    async def main():
        async def other_network(reader, writer):
            await reader.readexactly(HELLO_SIZE)
            writer.write(build_hello(OTHER_NETWORK, crypto_kx_keypair()[0], ROLE_RESPONDER))
            await reader.read()

        async def reflector(reader, writer):  # sends the client's own hello back
            writer.write(await reader.readexactly(HELLO_SIZE))
            await reader.read()

        async def future_version(reader, writer):
            await reader.readexactly(HELLO_SIZE)
            writer.write(build_hello(NETWORK, crypto_kx_keypair()[0], ROLE_RESPONDER, version=2))
            await reader.read()

        for handler, error in ((other_network, "bad hello MAC"), (reflector, "bad hello MAC"),
                               (future_version, "unsupported protocol version 2")):
            server, port = await raw_listener(handler)
            async with server:
                with pytest.raises(HandshakeError, match=error):
                    await connect(HOST, port, CLIENT, NETWORK)
    run(main())


def test_wrong_version_byte_is_refused():
    async def main():
        server, port, outcome = await responder_outcome()
        async with server:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(build_hello(NETWORK, crypto_kx_keypair()[0], ROLE_INITIATOR, version=2))
            with pytest.raises(HandshakeError, match="unsupported protocol version 2"):
                await outcome
            assert await reader.read() == b""  # closed without a word
            writer.close()
    run(main())


def test_allow_list_on_the_server_refuses_the_client(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    async def main():
        server, port = await start(echo, allowed={bytes(STRANGER.verify_key)})
        async with server:
            with pytest.raises(HandshakeError, match="refused us: node key not allowed"):
                await connect(HOST, port, CLIENT, NETWORK)
            await wait_for_log(caplog, "is not allowed")
            async with await connect(HOST, port, STRANGER, NETWORK) as session:
                assert session.peer_key == bytes(SERVER.verify_key)
        server, port = await start(echo, allowed=lambda key: key == bytes(CLIENT.verify_key))
        async with server:
            async with await connect(HOST, port, CLIENT, NETWORK, allowed={SERVER.verify_key}):
                pass
    run(main())


def test_allow_list_on_the_client_refuses_the_server():
    async def main():
        server, port, outcome = await responder_outcome()
        async with server:
            with pytest.raises(HandshakeError, match="is not allowed"):
                await connect(HOST, port, CLIENT, NETWORK, allowed=lambda key: False)
            with pytest.raises(HandshakeError, match="refused us: node key not allowed"):
                await outcome
    run(main())


def test_silent_peers_time_out():
    async def main():
        async def silent(reader, writer):
            await reader.read()
        server, port = await raw_listener(silent)
        async with server:
            with pytest.raises(HandshakeError, match="^timed out$"):
                await connect(HOST, port, CLIENT, NETWORK, timeout=0.2)
        server, port, outcome = await responder_outcome(timeout=0.2)
        async with server:
            reader, writer = await asyncio.open_connection(HOST, port)
            with pytest.raises(HandshakeError, match="^timed out$"):
                await outcome
            writer.close()
    run(main())


def test_idle_timeout_after_the_handshake():
    async def main():
        async def silent(session):
            with pytest.raises(ChannelClosed):
                await session.recv()
        server, port = await start(silent)
        async with server:
            async with await connect(HOST, port, CLIENT, NETWORK, idle_timeout=0.1) as session:
                with pytest.raises(ChannelError, match="idle timeout"):
                    await session.recv()
                with pytest.raises(ChannelError, match="idle timeout"):
                    await session.recv()  # the channel stays broken
    run(main())


def test_garbage_before_the_handshake_is_dropped_and_the_server_goes_on(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    async def main():
        server, port = await start(echo)
        async with server:
            for garbage in (b"\x01" + b"GET / HTTP/1.1\r\n" * 10, b"\xff" * 100):
                reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(garbage)
                assert await reader.read() == b""
                writer.close()
            await wait_for_log(caplog, "bad hello MAC")
            await wait_for_log(caplog, "unsupported protocol version 255")
            async with await connect(HOST, port, CLIENT, NETWORK) as session:
                await session.send(b"still here")
                assert await session.recv() == b"still here"
    run(main())


def test_twenty_concurrent_clients():
    async def main():
        async def on_session(session):
            payload = await session.recv()
            await session.send(session.peer_key + payload)
        # All from 127.0.0.1: more handshakes at once than one address gets by default.
        server, port = await start(on_session, admission=Admission(ConnectionLimits(max_handshakes_per_address=20)))
        keys = [SigningKey(bytes([i]) * 32) for i in range(20)]

        async def client(i, key):
            async with await connect(HOST, port, key, NETWORK) as session:
                assert session.peer_key == bytes(SERVER.verify_key)
                await session.send(b"client %d" % i)
                return await session.recv()
        async with server:
            answers = await asyncio.gather(*(client(i, key) for i, key in enumerate(keys)))
        assert answers == [bytes(key.verify_key) + b"client %d" % i for i, key in enumerate(keys)]
    run(main())


def test_connection_limit():
    async def main():
        release = asyncio.Event()

        async def hold(session):
            await release.wait()
        server, port = await start(hold, admission=Admission(ConnectionLimits(max_sessions=2, reserved_for_trusted=0)))
        async with server:
            first = await connect(HOST, port, CLIENT, NETWORK)
            second = await connect(HOST, port, CLIENT, NETWORK)
            with pytest.raises(HandshakeError):
                await connect(HOST, port, CLIENT, NETWORK)
            release.set()
            await first.close()
            await second.close()
            for _ in range(100):  # the server notices the two sessions ending
                try:
                    third = await connect(HOST, port, CLIENT, NETWORK)
                    break
                except HandshakeError:
                    await asyncio.sleep(0.01)
            await third.close()
    run(main())


# -- the sealed channel -----------------------------------------------------------

async def tampered_session(tamper, frames: list[bytes]) -> list:
    """Send `frames` from a client through a tampering proxy; what the server received."""
    outcomes: asyncio.Queue = asyncio.Queue()
    server, port = await start(recorder(outcomes))
    proxy, proxy_port = await tamper_proxy(port, tamper)
    async with server, proxy:
        session = await connect(HOST, proxy_port, CLIENT, NETWORK)
        for frame in frames:
            await session.send(frame)
        received = []
        while not received or not isinstance(received[-1], ChannelError):
            received.append(await outcomes.get())
        session.channel.abort()
        # The server dropped that connection and still serves another client.
        async with await connect(HOST, port, CLIENT, NETWORK) as other:
            await other.send(b"next client")
            assert await outcomes.get() == b"next client"
    return received


def test_huge_length_prefix_is_refused_before_reading():
    def tamper(index, frame):
        return [b"\xff\xff\xff\xff" + b"A" * 100] if index == 1 else [frame]
    received = run(tampered_session(tamper, [b"hello", b"more"]))
    assert len(received) == 1 and type(received[0]) is ChannelError
    assert "exceeds MAX_FRAME" in received[0].reason


def test_length_just_above_max_frame_is_refused():
    def tamper(index, frame):
        return [(MAX_FRAME + 1).to_bytes(4, "big")] if index == 1 else [frame]
    received = run(tampered_session(tamper, [b"hello"]))
    assert "exceeds MAX_FRAME" in str(received[-1])


def test_flipped_bit_fails_authentication():
    def tamper(index, frame):
        if index == 2:
            frame = bytearray(frame)
            frame[20] ^= 0x04
        return [bytes(frame)]
    received = run(tampered_session(tamper, [b"one", b"two" * 50, b"three"]))
    assert received[0] == b"one"
    assert "failed authentication" in str(received[1])


def test_length_prefix_is_authenticated():
    def tamper(index, frame):  # shorten the frame by one byte and fix up its length
        if index == 1:
            frame = (len(frame) - 5).to_bytes(4, "big") + frame[4:-1]
        return [frame]
    received = run(tampered_session(tamper, [b"x" * 100]))
    assert "failed authentication" in str(received[0])


def test_replayed_frame_fails():
    def tamper(index, frame):
        return [frame, frame] if index == 1 else [frame]
    received = run(tampered_session(tamper, [b"pay me once", b"after"]))
    assert received[0] == b"pay me once"
    assert "failed authentication" in str(received[1])


def test_reordered_frames_fail():
    held = []

    def tamper(index, frame):
        if index == 1:
            held.append(frame)
            return []
        return [frame, *held] if index == 2 else [frame]
    received = run(tampered_session(tamper, [b"first", b"second"]))
    assert "failed authentication" in str(received[0])


def test_dropped_frame_fails():
    def tamper(index, frame):
        return [] if index == 1 else [frame]
    received = run(tampered_session(tamper, [b"lost", b"next"]))
    assert "failed authentication" in str(received[0])


def test_truncated_frame_is_reported():
    def tamper(index, frame):
        return [frame[:30], None] if index == 1 else [frame]
    sent = [b"cut short" * 10]
    received = run(tampered_session(tamper, sent))
    assert "truncated frame" in str(received[0])


def test_clean_close_and_unexpected_eof_are_distinct():
    async def main():
        outcomes: asyncio.Queue = asyncio.Queue()
        server, port = await start(recorder(outcomes))
        async with server:
            session = await connect(HOST, port, CLIENT, NETWORK)
            await session.send(b"bye now")
            await session.close()
            assert await outcomes.get() == b"bye now"
            closed = await outcomes.get()
            assert isinstance(closed, ChannelClosed)
            with pytest.raises(ChannelError, match="closed"):
                await session.send(b"too late")

            session = await connect(HOST, port, CLIENT, NETWORK)
            session.channel.abort()
            dropped = await outcomes.get()
            assert type(dropped) is ChannelError and "no final frame" in dropped.reason
    run(main())


def test_secure_channel_over_a_plain_socket_pair():
    """SecureChannel on its own, with keys agreed out of band."""
    async def main():
        key_a, key_b = b"a" * 32, b"b" * 32
        accepted = asyncio.get_running_loop().create_future()

        finished = asyncio.Event()

        async def handler(reader, writer):
            accepted.set_result(await SecureChannel.open(reader, writer, key_b, key_a))
            await finished.wait()
        server, port = await raw_listener(handler)
        async with server:
            reader, writer = await asyncio.open_connection(HOST, port)
            client = await SecureChannel.open(reader, writer, key_a, key_b)
            peer = await accepted
            await client.send(b"over the wire")
            assert await peer.recv() == b"over the wire"
            await peer.send(b"and back")
            assert await client.recv() == b"and back"
            await client.close()
            with pytest.raises(ChannelClosed):
                await peer.recv()
            await peer.close()
            finished.set()
    run(main())


# -- the message codec ------------------------------------------------------------

ID1 = hashing.block_id(b"one")
ID2 = hashing.block_id(b"two")

SAMPLES = [
    HelloLogs((LogHeads("ada", (ID1,)), LogHeads("log/é", (ID1, ID2)), LogHeads("empty", ())),
              more=True),
    HelloLogs(()),
    WantRecords((ID1, ID2)),
    WantRecords((ID1,), have=(ID2,)),
    Records(2, missing=(ID2,)),
    Records(0),
    HaveBlob(ID1),
    BlobStatus(ID1, ((0, 4), (6, 7))),
    BlobStatus(ID2, ()),
    WantChunk(ID1, 12),
    make_block(b"record bytes"),
    make_block(b""),
    Error("no such log"),
    Bye(),
    WantBlock(ID1),
    NotFound(ID2),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg):
    payload = encode_message(msg)
    assert decode_message(payload) == msg
    assert payload[0] in TYPE_CODES.values()


def test_type_table_covers_every_message():
    assert {decode_message(encode_message(m)).__class__ for m in SAMPLES} == {
        HelloLogs, WantRecords, Records, HaveBlob, BlobStatus, WantChunk, Block, Error, Bye,
        WantBlock, NotFound}
    assert len(set(TYPE_CODES.values())) == len(TYPE_CODES) == 11


def doc(code: str, body) -> bytes:
    return bytes([TYPE_CODES[code]]) + canonical.encode(body)


@pytest.mark.parametrize("payload", [
    b"",
    b"\x00{}",
    b"\xee{}",
    bytes([TYPE_CODES["bye"]]) + b"{ }",                      # whitespace
    bytes([TYPE_CODES["bye"]]) + b"",                         # no body
    bytes([TYPE_CODES["error"]]) + b'{"reason": "x"}',        # whitespace
    bytes([TYPE_CODES["records"]]) + b'{"missing":[],"count":1}',  # keys out of order
    bytes([TYPE_CODES["records"]]) + b'{"count":1.0,"missing":[]}',  # a float
    bytes([TYPE_CODES["error"]]) + b'{"reason":"\\u0041"}',  # needless escape
    doc("want_records", {"ids": [ID1] * (MAX_IDS_PER_MESSAGE + 1), "have": []}),
    doc("want_records", {"ids": [], "have": []}),
    doc("want_records", {"ids": [ID1.upper()], "have": []}),
    doc("want_records", {"ids": ["md5:" + "0" * 32], "have": []}),
    doc("want_records", {"ids": [ID1[:-1]], "have": []}),
    doc("want_records", {"ids": ID1, "have": []}),
    doc("want_records", {"ids": [ID1], "have": [], "extra": 1}),
    doc("want_records", {"ids": [ID1]}),
    doc("want_records", {"ids": [ID1], "have": [ID2] * 65}),
    doc("want_block", {"id": "x"}),
    doc("not_found", {}),
    doc("want_records", {}),
    doc("want_records", [ID1]),
    doc("records", {"count": True, "missing": []}),
    doc("records", {"count": -1, "missing": []}),
    doc("records", {"count": MAX_IDS_PER_MESSAGE + 1, "missing": []}),
    doc("hello_logs", {"logs": [{"name": "a" * 257, "heads": []}], "more": False}),
    doc("hello_logs", {"logs": [{"name": "", "heads": []}], "more": False}),
    doc("hello_logs", {"logs": [{"name": "a", "heads": [ID1] * 65}], "more": False}),
    doc("hello_logs", {"logs": [{"name": "a", "heads": [ID1, ID1]}], "more": False}),
    doc("hello_logs", {"logs": [{"name": "a", "heads": []}] * 2, "more": False}),
    doc("hello_logs", {"logs": [], "more": 0}),
    doc("hello_logs", {"logs": [{"name": "a", "heads": [], "x": None}], "more": False}),
    doc("blob_status", {"manifest": ID1, "ranges": [[0, 4], [3, 5]]}),
    doc("blob_status", {"manifest": ID1, "ranges": [[2, 2]]}),
    doc("blob_status", {"manifest": ID1, "ranges": [[0, 1, 2]]}),
    doc("blob_status", {"manifest": ID1, "ranges": [[0, 2**32 + 1]]}),
    doc("want_chunk", {"manifest": ID1, "index": "3"}),
    doc("error", {"reason": "x" * 1025}),
    doc("bye", {"why": "no"}),
    bytes([TYPE_CODES["block"]]) + ID1.encode()[:-1],
    bytes([TYPE_CODES["block"]]) + ID1.upper().encode() + b"one",
    bytes([TYPE_CODES["block"]]) + ID1.encode() + b"not one",
    bytes([TYPE_CODES["block"]]) + b"\xff" * 71 + b"one",
    bytes([TYPE_CODES["block"]]) + b"x" * (MAX_PAYLOAD),
], ids=lambda p: repr(p[:40]))
def test_invalid_payloads_are_protocol_errors(payload):
    with pytest.raises(ProtocolError):
        decode_message(payload)


def test_encoder_refuses_what_a_peer_would_refuse():
    for msg in (WantRecords(tuple([ID1] * (MAX_IDS_PER_MESSAGE + 1))), WantRecords(("nope",)),
                Block(ID1, b"not one"), Error("x" * 2000), HaveBlob("sha256:"),
                BlobStatus(ID1, ((5, 6), (0, 1))),
                HelloLogs(tuple(LogHeads(f"log {i}", (ID1,) * 1) for i in range(1025))),
                make_block(b"x" * (MAX_BLOCK_DATA + 1))):
        with pytest.raises(ProtocolError):
            encode_message(msg)


def test_protocol_error_on_a_live_session():
    async def main():
        outcome = asyncio.get_running_loop().create_future()

        async def on_session(session):
            first = await session.recv_message()
            try:
                await session.recv_message()
            except ProtocolError as exc:
                outcome.set_result((first, exc))
        server, port = await start(on_session)
        async with server:
            async with await connect(HOST, port, CLIENT, NETWORK) as session:
                await session.send_message(WantRecords((ID1,)))
                await session.send(b"\x42junk")
                first, error = await outcome
        assert first == WantRecords((ID1,))
        assert "unknown message type 0x42" in str(error)
    run(main())


# -- the docs ---------------------------------------------------------------------

def test_protocol_doc_matches_the_code():
    import re
    from pathlib import Path

    from fixme.node import channel, handshake, messages

    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    table = dict(re.findall(r"^\| 0x([0-9a-f]{2}) \| `(\w+)`", text, re.M))
    assert {name: int(code, 16) for code, name in table.items()} == TYPE_CODES
    for number in (channel.MAX_FRAME, channel.MAX_PAYLOAD, messages.MAX_BLOCK_DATA):
        assert f"{number:,}" in text
    for constant in (handshake.HELLO_CONTEXT, handshake.SIGNATURE_CONTEXT):
        assert f'"{constant.decode()}" ({len(constant)})' in text
    assert f"({len(handshake.SIGNATURE_CONTEXT) + 1 + 2 * HELLO_SIZE} bytes)" in text
    for heading in ("## Sessions", "## Reconciliation", "## Blobs", "## Limits and abuse",
                    "### Connections and sessions", "## Discovery"):
        assert heading in text, heading
    from fixme.node import fetch, peer, reconcile

    assert f"`MAX_OUTSTANDING` = {peer.MAX_OUTSTANDING}" in text
    assert f"`WINDOW` = {fetch.WINDOW}" in text
    assert f"`MAX_FAULTS` = {fetch.MAX_FAULTS}" in text
    assert f"`MAX_RECORDS_PER_PULL` = {reconcile.MAX_RECORDS_PER_PULL:,}" in text


def test_protocol_doc_lists_every_budget_and_deadline_with_its_value():
    import dataclasses
    from pathlib import Path

    from fixme.node import channel, fetch, handshake, peer

    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    section = text[text.index("### Connections and sessions"):text.index("## Discovery")]
    for defaults in (ConnectionLimits(), peer.SessionDeadlines()):
        for field in dataclasses.fields(defaults):
            assert f"`{field.name}` = {getattr(defaults, field.name):g}" in section, field.name
    assert f"`DEFAULT_HANDSHAKE_TIMEOUT` = {handshake.DEFAULT_HANDSHAKE_TIMEOUT:g} s" in section
    assert f"`idle_timeout` = {channel.DEFAULT_IDLE_TIMEOUT:g} s" in section
    for name in ("MAX_FAULTS", "MAX_ADDRESS_FAULTS"):
        assert f"`{name}` = {getattr(fetch, name)}" in section, name
    assert f"`BAN_SECONDS` = {fetch.BAN_SECONDS:g} s" in section


# A process receiving 1 MiB frames: glibc hands the frames' buffers back to
# the OS and faults them in afresh (measured: ~520 faults per MiB received,
# twice a MiB's 256 pages), which halved the channel's rate. A Node tunes the
# allocator to keep them (fixme/node/allocator.py).
FAULTS_CHILD = r"""
import asyncio, os, resource, sys
from pathlib import Path
from nacl.signing import SigningKey
from fixme.node.handshake import connect, serve
from fixme.node.node import Node, NodeSettings

Node(Path(sys.argv[1]), NodeSettings(SigningKey.generate(), bytes(32), ("log",), lambda log, author: True)).close()
MIB = 1 << 20

async def main():
    chunk, key = os.urandom(MIB), bytes(32)
    done = asyncio.get_running_loop().create_future()

    async def sender(session):
        for _ in range(64):
            await session.send(chunk)
        await done

    server = await serve("127.0.0.1", 0, SigningKey.generate(), key, sender)
    session = await connect("127.0.0.1", server.sockets[0].getsockname()[1], SigningKey.generate(), key)
    for _ in range(4):      # the buffers' first use may fault: not counted
        await session.recv()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(60):
        await session.recv()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 60)
    done.set_result(None)
    await session.close()
    server.close()

asyncio.run(main())
"""


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not _is_glibc(), reason="the allocator is tuned on glibc only")
def test_a_node_process_reuses_frame_buffers_instead_of_faulting_fresh_pages(tmp_path):
    proc = subprocess.run([sys.executable, "-c", FAULTS_CHILD, str(tmp_path / "node")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    faults_per_mib = float(proc.stdout)
    assert faults_per_mib < 64, f"{faults_per_mib} page faults per MiB received (a MiB is 256 pages)"
