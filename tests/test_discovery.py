"""LAN discovery: the announcement codec, and real UDP broadcasts on loopback.

Linux delivers a datagram sent to 127.255.255.255 (the broadcast address of
lo) to every socket bound to that address and port, so nodes in a test bind
127.255.255.255 and send there: the broadcast behaviour of a LAN without
listening on anything but loopback. (A socket bound to 127.0.0.1 hears no
broadcasts, and unicast to 127.0.0.1 reaches only one of the sockets sharing
a port.)

"X has processed packet P" is shown without sleeping: UDP on loopback keeps
the order of a socket's queue, so once X has answered a marker packet sent
after P, it has seen P too.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import socket

import pytest
from nacl.signing import SigningKey

from fixme.node.discovery import (
    ANNOUNCEMENT_SIZE,
    DEFAULT_DISCOVERY_PORT,
    Announcement,
    Discovery,
    DiscoveryError,
    _PerKeyLimiter,
    decode_announcement,
    encode_announcement,
    network_tag,
)

BROADCAST = "127.255.255.255"   # lo's broadcast address: never leaves the machine
SENDER_HOST = "127.0.0.1"       # the source address of a datagram sent there
NETWORK = bytes(range(32))
OTHER_NETWORK = bytes(range(1, 33))
FAST = 0.05                     # announcement interval in tests, seconds


def run(coro, limit: float = 10.0):
    return asyncio.run(asyncio.wait_for(coro, limit))


def node_key() -> bytes:
    return bytes(SigningKey.generate().verify_key)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((BROADCAST, 0))
        return sock.getsockname()[1]


def packet(key: bytes, tcp_port: int = 4000, network: bytes = NETWORK) -> bytes:
    return encode_announcement(Announcement(node_key=key, port=tcp_port, network=network_tag(network)))


class Peers:
    """An on_peer callback that records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bytes]] = []

    def __call__(self, host: str, port: int, key: bytes) -> None:
        self.calls.append((host, port, key))

    def keys(self) -> set[bytes]:
        return {key for _host, _port, key in self.calls}

    def count(self, key: bytes) -> int:
        return sum(1 for _host, _port, k in self.calls if k == key)


def node(key: bytes, tcp_port: int, network: bytes, peers: Peers, port: int, *,
         interval: float = FAST, **options) -> Discovery:
    options.setdefault("broadcast_address", BROADCAST)
    options.setdefault("bind_address", BROADCAST)
    return Discovery(key, tcp_port, network, peers, port=port, interval=interval, **options)


async def until(condition, timeout: float = 5.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


class Observer:
    """A plain socket sharing the discovery port: sees what goes on the wire.
    SO_REUSEADDR alone is enough to share the port with Discovery's socket."""

    def __init__(self, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setblocking(False)
        self.sock.bind((BROADCAST, port))
        self.seen: list[tuple[bytes, tuple[str, int]]] = []

    def poll(self) -> None:
        while True:
            try:
                self.seen.append(self.sock.recvfrom(65536))
            except BlockingIOError:
                return

    def heard(self, key: bytes) -> bool:
        self.poll()
        return any(data[21:53] == key for data, _addr in self.seen)

    def close(self) -> None:
        self.sock.close()


def sender() -> socket.socket:
    """An unbound socket that may broadcast, like a node on another port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return sock


# -- the packet ---------------------------------------------------------------

def test_the_network_tag_is_a_keyed_blake2b_and_hides_the_key():
    tag = network_tag(NETWORK)
    assert tag == hashlib.blake2b(b"announcement", key=NETWORK, digest_size=16,
                                  person=b"fixme-discovery").digest()
    assert len(tag) == 16 and tag == network_tag(NETWORK)
    assert tag != network_tag(OTHER_NETWORK)
    assert NETWORK[:8] not in tag
    with pytest.raises(DiscoveryError, match="32 bytes"):
        network_tag(NETWORK[:31])


def test_an_announcement_round_trips_with_the_documented_layout():
    key = node_key()
    for port in (1, 4000, 65535):
        announcement = Announcement(node_key=key, port=port, network=network_tag(NETWORK))
        data = encode_announcement(announcement)
        assert len(data) == ANNOUNCEMENT_SIZE == 55
        assert data[:4] == b"FXMD" and data[4] == 1
        assert data[5:21] == network_tag(NETWORK)
        assert data[21:53] == key
        assert data[53:55] == port.to_bytes(2, "big")
        assert decode_announcement(data) == announcement
        assert decode_announcement(bytearray(data)) == announcement
    assert announcement.fingerprint.count("-") == 3


GOOD = packet(bytes(32), 4000)


@pytest.mark.parametrize("data, reason", [
    (b"", "too short"),
    (b"FXM", "too short"),
    (GOOD[:-1], "54 bytes"),
    (GOOD[:5], "5 bytes"),
    (GOOD + b"\x00", "56 bytes"),
    (b"FXMX" + GOOD[4:], "bad magic"),
    (b"\x00" * 55, "bad magic"),
    (GOOD[:4] + b"\x00" + GOOD[5:], "unknown announcement version 0"),
    (GOOD[:4] + b"\x02" + GOOD[5:] + b"more", "unknown announcement version 2"),
    (GOOD[:-2] + b"\x00\x00", "port 0"),
])
def test_malformed_packets_are_refused_with_a_reason(data, reason):
    with pytest.raises(DiscoveryError, match=reason):
        decode_announcement(data)


def test_discovery_errors_are_value_errors():
    assert issubclass(DiscoveryError, ValueError)


@pytest.mark.parametrize("fields, reason", [
    (dict(node_key=bytes(31)), "node key"),
    (dict(node_key="x" * 32), "node key"),
    (dict(port=0), "not in 1..65535"),
    (dict(port=65536), "not in 1..65535"),
    (dict(port=True), "not in 1..65535"),
    (dict(network=bytes(32)), "network tag"),
])
def test_an_invalid_announcement_cannot_be_made(fields, reason):
    values = dict(node_key=bytes(32), port=4000, network=bytes(16)) | fields
    with pytest.raises(DiscoveryError, match=reason):
        Announcement(**values)


def test_bad_arguments_are_refused_at_once():
    key, peers = node_key(), Peers()
    with pytest.raises(TypeError, match="public key"):
        Discovery(SigningKey.generate(), 4000, NETWORK, peers)  # would broadcast the secret seed
    with pytest.raises(ValueError, match="network key"):
        Discovery(key, 4000, NETWORK[:16], peers)
    with pytest.raises(ValueError, match="TCP port"):
        Discovery(key, 0, NETWORK, peers)
    with pytest.raises(ValueError, match="discovery port"):
        Discovery(key, 4000, NETWORK, peers, port=70000)
    with pytest.raises(ValueError, match="IPv4"):
        Discovery(key, 4000, NETWORK, peers, broadcast_address="localhost")
    with pytest.raises(ValueError, match="IPv4"):
        Discovery(key, 4000, NETWORK, peers, bind_address="::")
    with pytest.raises(ValueError, match="interval"):
        Discovery(key, 4000, NETWORK, peers, interval=0)
    assert Discovery(key, 4000, NETWORK, peers).announcement.port == 4000
    assert 1024 < DEFAULT_DISCOVERY_PORT < 49152   # registered range, not ephemeral


def test_the_rate_limiter_allows_one_event_per_key_per_period_and_remembers_few_keys():
    limiter = _PerKeyLimiter(1.0, capacity=2)
    assert limiter.allow(b"a", 0.0)
    assert not limiter.allow(b"a", 0.5)
    assert limiter.allow(b"b", 0.6)
    assert not limiter.allow(b"c", 0.7)       # full: a flood of new keys stays bounded
    assert limiter.allow(b"a", 1.0)           # a's period is over, which frees room
    assert limiter.allow(b"c", 1.7)           # b's too
    assert not limiter.allow(b"a", 1.8)


# -- on the wire --------------------------------------------------------------

def test_nodes_of_one_network_on_one_port_find_each_other_and_ignore_another_network():
    port = free_port()
    a_key, b_key, c_key, marker, other_marker = (node_key() for _ in range(5))
    a_peers, b_peers, c_peers = Peers(), Peers(), Peers()

    async def main():
        async with node(a_key, 4001, NETWORK, a_peers, port), \
                node(b_key, 4002, NETWORK, b_peers, port), \
                node(c_key, 4003, OTHER_NETWORK, c_peers, port):
            observer = Observer(port)
            try:
                await until(lambda: b_key in a_peers.keys() and a_key in b_peers.keys())
                # Once the observer has heard all three, so has every node
                # (a broadcast reaches all sockets at once); the markers,
                # sent after, show when each node has dealt with them.
                await until(lambda: all(observer.heard(k) for k in (a_key, b_key, c_key)))
                with sender() as out:
                    out.sendto(packet(marker, 4100), (BROADCAST, port))
                    out.sendto(packet(other_marker, 4200, OTHER_NETWORK), (BROADCAST, port))
                await until(lambda: marker in a_peers.keys() and marker in b_peers.keys()
                            and other_marker in c_peers.keys())
            finally:
                observer.close()

    run(main())
    assert a_peers.keys() == {b_key, marker}
    assert b_peers.keys() == {a_key, marker}
    assert c_peers.keys() == {other_marker}
    assert (SENDER_HOST, 4002, b_key) in a_peers.calls
    assert (SENDER_HOST, 4001, a_key) in b_peers.calls
    assert (SENDER_HOST, 4100, marker) in a_peers.calls


def test_a_node_ignores_its_own_announcements():
    port = free_port()
    key, marker = node_key(), node_key()
    peers = Peers()

    async def main():
        observer = Observer(port)
        try:
            async with node(key, 4001, NETWORK, peers, port):
                await until(lambda: observer.heard(key))
                data, (host, _port) = observer.seen[0]
                assert decode_announcement(data) == Announcement(key, 4001, network_tag(NETWORK))
                assert host == SENDER_HOST
                with sender() as out:
                    out.sendto(packet(marker), (BROADCAST, port))
                await until(lambda: peers.calls)
        finally:
            observer.close()

    run(main())
    assert peers.keys() == {marker}


def test_a_flood_from_one_key_gives_at_most_a_couple_of_callbacks():
    port = free_port()
    flooder, marker = node_key(), node_key()
    peers = Peers()
    flood = packet(flooder, 4444)

    async def main():
        # A long interval: the flood must fit one rate-limit period.
        async with node(node_key(), 4001, NETWORK, peers, port, interval=2.0):
            with sender() as out:
                for batch in range(40):
                    for _ in range(25):
                        out.sendto(flood, (BROADCAST, port))
                    await asyncio.sleep(0.002)  # let the node drain its socket buffer
                out.sendto(packet(marker), (BROADCAST, port))
            await until(lambda: marker in peers.keys())

    run(main())
    assert 1 <= peers.count(flooder) <= 2
    assert peers.keys() == {flooder, marker}


def test_garbage_neither_crashes_nor_stops_discovery(caplog):
    port = free_port()
    key, late = node_key(), node_key()
    peers = Peers()
    garbage = [b"", b"F", b"FXMD", b"\x00" * 55, GOOD[:4] + b"\x07" + GOOD[5:], GOOD + b"x",
               GOOD[:-2] + b"\x00\x00", os.urandom(60000), packet(key, 9, OTHER_NETWORK)]

    async def main():
        with caplog.at_level(logging.DEBUG, logger="fixme.node.discovery"):
            async with node(node_key(), 4001, NETWORK, peers, port) as discovery:
                with sender() as out:
                    for data in garbage:
                        out.sendto(data, (BROADCAST, port))
                    out.sendto(packet(late, 4321), (BROADCAST, port))
                await until(lambda: peers.calls)
                assert discovery.running

    run(main())
    assert peers.calls == [(SENDER_HOST, 4321, late)]
    reasons = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    for reason in ("too short", "bad magic", "version 7", "56 bytes", "port 0", "another network"):
        assert reason in reasons
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failing_on_peer_is_logged_and_later_peers_still_arrive(caplog):
    port = free_port()
    first, second = node_key(), node_key()
    seen: list[bytes] = []

    def on_peer(host: str, tcp_port: int, key: bytes) -> None:
        seen.append(key)
        if key == first:
            raise RuntimeError("boom")

    async def main():
        async with node(node_key(), 4001, NETWORK, on_peer, port):
            with sender() as out:
                out.sendto(packet(first), (BROADCAST, port))
                out.sendto(packet(second), (BROADCAST, port))
            await until(lambda: second in seen)

    with caplog.at_level(logging.ERROR, logger="fixme.node.discovery"):
        run(main())
    assert seen == [first, second]
    assert any("on_peer failed" in r.getMessage() for r in caplog.records)


def test_send_errors_are_logged_once_and_never_raised(caplog):
    port = free_port()
    peers = Peers()

    async def main():
        # A socket bound to 127.0.0.1 may not send to a non-loopback address
        # (EINVAL on Linux; ENETUNREACH without a route): nothing leaves the
        # machine. 203.0.113.0/24 is TEST-NET-3, documentation only.
        async with node(node_key(), 4001, NETWORK, peers, port, interval=0.01,
                        bind_address=SENDER_HOST, broadcast_address="203.0.113.255") as discovery:
            await until(lambda: len(_send_errors(caplog)) >= 3)
            assert discovery.running

    with caplog.at_level(logging.DEBUG, logger="fixme.node.discovery"):
        run(main())
    errors = _send_errors(caplog)
    assert [r.levelno for r in errors[:3]] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert "203.0.113.255" in errors[0].getMessage()


def _send_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "cannot send" in r.getMessage()]


def test_stop_releases_the_port():
    port = free_port()

    def bind_exclusively() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((BROADCAST, port))   # no SO_REUSEADDR: fails while anyone holds the port

    async def main():
        discovery = node(node_key(), 4001, NETWORK, Peers(), port)
        await discovery.start()
        with pytest.raises(RuntimeError, match="already started"):
            await discovery.start()
        with pytest.raises(OSError) as held:
            bind_exclusively()
        assert held.value.errno == errno.EADDRINUSE
        await discovery.stop()
        assert not discovery.running
        bind_exclusively()
        await discovery.stop()    # twice is fine
        await discovery.close()

        async with node(node_key(), 4001, NETWORK, Peers(), port) as discovery:
            assert discovery.running
        bind_exclusively()

    run(main())
