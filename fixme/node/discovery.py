"""LAN discovery: nodes announce themselves by UDP broadcast.

Every `interval` seconds (default 5, with ±10 % jitter) a node broadcasts one
fixed-size announcement to UDP port `DEFAULT_DISCOVERY_PORT` (47251). All
integers are big-endian:

    offset  size  field
    0       4     magic, the ASCII bytes "FXMD"
    4       1     version, ANNOUNCEMENT_VERSION = 0x01
    5       16    network tag = network_tag(network key), see below
    21      32    node key: the node's ed25519 public key
    53      2     TCP port of the node's sync server, 1..65535
    (55 bytes in all)

    network tag = BLAKE2b(key = network key (32), message = "announcement",
                          digest size = 16, person = "fixme-discovery")

The tag names the network without revealing its key: an eavesdropper learns
which announcements belong together, nothing it could use in a handshake.
The whole node key is sent (not just a fingerprint) so a listener can apply
its allow list before it connects.

A listener decodes every packet strictly (anything malformed is dropped and
logged at DEBUG), ignores other networks and its own announcements, and calls
`on_peer(sender address, announced TCP port, node key)` at most once per
`interval` per node key. Nothing here is signed: an announcement is only a
hint of where to connect. The handshake (handshake.py) is what proves a
peer's network key and node key, so a forged announcement costs at most one
failed connection attempt.

Several nodes on one machine share the discovery port: the socket sets
SO_REUSEADDR (and SO_REUSEPORT where the platform has it), and Linux hands
every broadcast to every socket bound to the port, either to the wildcard
address or to the broadcast address itself. A socket bound to a unicast
address such as 127.0.0.1 hears no broadcasts at all, and unicast datagrams
reach only one of the sockets sharing a port, so discovery needs both a
broadcast destination and a wildcard (or broadcast) bind address.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from fixme.node.handshake import NETWORK_KEY_SIZE, NODE_KEY_SIZE
from fixme.node.keys import fingerprint

DEFAULT_DISCOVERY_PORT = 47251
DEFAULT_INTERVAL = 5.0
MAGIC = b"FXMD"
ANNOUNCEMENT_VERSION = 1
NETWORK_TAG_SIZE = 16
TAG_PERSON = b"fixme-discovery"   # BLAKE2b personalisation: at most 16 bytes
TAG_MESSAGE = b"announcement"
JITTER = 0.1                      # announcements go out every interval * (1 ± JITTER)
MAX_TRACKED_PEERS = 256           # node keys remembered for rate limiting

_PACKET = struct.Struct("!4sB16s32sH")
ANNOUNCEMENT_SIZE = _PACKET.size  # 55
_PREFIX_SIZE = len(MAGIC) + 1     # magic and version: enough to tell what a packet is

OnPeer = Callable[[str, int, bytes], None]


class DiscoveryError(ValueError):
    """A malformed announcement, or bad arguments for one."""


# -- the packet ---------------------------------------------------------------

def network_tag(network_key: bytes) -> bytes:
    """The 16-byte tag that names a network in announcements."""
    if len(network_key) != NETWORK_KEY_SIZE:
        raise DiscoveryError(f"the network key must be {NETWORK_KEY_SIZE} bytes, not {len(network_key)}")
    return hashlib.blake2b(TAG_MESSAGE, key=bytes(network_key), digest_size=NETWORK_TAG_SIZE,
                           person=TAG_PERSON).digest()


@dataclass(frozen=True)
class Announcement:
    """What a node broadcasts: who it is, where it listens, which network."""

    node_key: bytes   # ed25519 public key (32)
    port: int         # TCP port of its sync server
    network: bytes    # network_tag() of its network key (16)

    def __post_init__(self) -> None:
        if not isinstance(self.node_key, bytes) or len(self.node_key) != NODE_KEY_SIZE:
            raise DiscoveryError(f"the node key must be {NODE_KEY_SIZE} bytes")
        if not isinstance(self.network, bytes) or len(self.network) != NETWORK_TAG_SIZE:
            raise DiscoveryError(f"the network tag must be {NETWORK_TAG_SIZE} bytes")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise DiscoveryError(f"TCP port {self.port!r} is not in 1..65535")

    @property
    def fingerprint(self) -> str:
        """The node key's short name, for logs."""
        return fingerprint(self.node_key)


def encode_announcement(announcement: Announcement) -> bytes:
    return _PACKET.pack(MAGIC, ANNOUNCEMENT_VERSION, announcement.network,
                        announcement.node_key, announcement.port)


def decode_announcement(data: bytes) -> Announcement:
    """The announcement in a datagram; DiscoveryError says what is wrong with it."""
    data = bytes(data)
    if len(data) < _PREFIX_SIZE:
        raise DiscoveryError(f"packet too short ({len(data)} bytes)")
    if data[:len(MAGIC)] != MAGIC:
        raise DiscoveryError(f"bad magic {data[:len(MAGIC)]!r}, not {MAGIC!r}")
    # The version comes before the size check so that a longer packet of a
    # later version is reported as what it is.
    if data[len(MAGIC)] != ANNOUNCEMENT_VERSION:
        raise DiscoveryError(f"unknown announcement version {data[len(MAGIC)]}")
    if len(data) != ANNOUNCEMENT_SIZE:
        raise DiscoveryError(f"packet of {len(data)} bytes, a version {ANNOUNCEMENT_VERSION} "
                             f"announcement has {ANNOUNCEMENT_SIZE}")
    _magic, _version, network, node_key, port = _PACKET.unpack(data)
    if port == 0:
        raise DiscoveryError("announced TCP port 0")
    return Announcement(node_key=node_key, port=port, network=network)


# -- rate limiting ------------------------------------------------------------

class _PerKeyLimiter:
    """Lets through at most one event per key per `period` seconds.

    Remembers at most `capacity` keys, so a flood of made-up keys costs
    bounded memory and at most `capacity` callbacks per period.
    """

    def __init__(self, period: float, capacity: int = MAX_TRACKED_PEERS):
        self._period = period
        self._capacity = capacity
        # Oldest first: a key is only ever inserted when absent, so dict order
        # is time order and expired keys are all at the front.
        self._last: dict[bytes, float] = {}

    def allow(self, key: bytes, now: float) -> bool:
        self._forget_before(now - self._period)
        if key in self._last or len(self._last) >= self._capacity:
            return False
        self._last[key] = now
        return True

    def _forget_before(self, cutoff: float) -> None:
        while self._last:
            key, when = next(iter(self._last.items()))
            if when > cutoff:
                return
            del self._last[key]


# -- the socket ---------------------------------------------------------------

def _ipv4(address: str, what: str) -> str:
    """An IPv4 literal, checked now: the socket is IPv4 (broadcast has no IPv6
    equivalent) and a host name would be resolved, blocking, on every send."""
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError(f"{what} must be an IPv4 address, not {address!r}") from None


def _check_port(port: int, what: str) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{what} {port!r} is not in 1..65535")
    return port


def _open_socket(bind_address: str, port: int) -> socket.socket:
    """A UDP socket bound to the discovery port, shared with other nodes.

    Linux lets sockets share a port when all of them set SO_REUSEADDR, or all
    set SO_REUSEPORT (then only within one user), and hands a broadcast to
    every one of them; we set both so we can share with either kind of
    program. BSD and macOS need SO_REUSEPORT to bind one address twice.
    asyncio refuses reuse_address for UDP, hence a socket of our own.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            except OSError:  # defined but not supported by this kernel
                pass
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        sock.bind((bind_address, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _Endpoint(asyncio.DatagramProtocol):
    """Hands the transport's events to its Discovery."""

    def __init__(self, discovery: Discovery):
        self._discovery = discovery
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._discovery._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._discovery._network_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


# -- discovery ----------------------------------------------------------------

class Discovery:
    """Announce this node on the LAN and hear the other nodes of its network.

    `on_peer(host, tcp_port, node_key)` is called from the event loop for a
    node of our network, at most once per `interval` per node key; it should
    return quickly (schedule the connection as a task). The host is the
    address the announcement came from, never a name from the packet.
    """

    def __init__(self, node_key: bytes, tcp_port: int, network_key: bytes, on_peer: OnPeer, *,
                 port: int = DEFAULT_DISCOVERY_PORT, broadcast_address: str = "255.255.255.255",
                 bind_address: str = "0.0.0.0", interval: float = DEFAULT_INTERVAL,
                 logger: logging.Logger = logging.getLogger(__name__)):
        # bytes only: bytes() of a nacl SigningKey is its secret seed, which
        # must never be broadcast by mistake.
        if not isinstance(node_key, bytes):
            raise TypeError("node_key must be the node's 32-byte public key as bytes")
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self._announcement = Announcement(node_key=node_key, port=_check_port(tcp_port, "TCP port"),
                                          network=network_tag(network_key))
        self._packet = encode_announcement(self._announcement)
        self._on_peer = on_peer
        self._port = _check_port(port, "discovery port")
        self._destination = (_ipv4(broadcast_address, "broadcast_address"), self._port)
        self._bind_address = _ipv4(bind_address, "bind_address")
        self._interval = float(interval)
        self._log = logger
        self._limiter = _PerKeyLimiter(self._interval)
        self._transport: asyncio.DatagramTransport | None = None
        self._endpoint: _Endpoint | None = None
        self._task: asyncio.Task[None] | None = None
        self._errors = 0                    # network errors seen so far
        self._last_error: str | None = None  # the one last logged as a warning

    @property
    def announcement(self) -> Announcement:
        return self._announcement

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Bind the discovery port and start announcing. OSError if the port
        cannot be bound (e.g. taken by a program that does not share it)."""
        if self._transport is not None:
            raise RuntimeError("discovery is already started")
        loop = asyncio.get_running_loop()
        sock = _open_socket(self._bind_address, self._port)
        try:
            transport, endpoint = await loop.create_datagram_endpoint(lambda: _Endpoint(self), sock=sock)
        except BaseException:
            sock.close()
            raise
        self._transport, self._endpoint = transport, endpoint
        self._task = asyncio.create_task(self._announce_forever(), name="fixme discovery")
        self._log.info("discovery on udp %s:%d: announcing node %s, tcp port %d, every %.3g s",
                       self._bind_address, self._port, self._announcement.fingerprint,
                       self._announcement.port, self._interval)

    async def stop(self) -> None:
        """Stop announcing and release the port. Safe to call more than once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # unlike `await task`, does not swallow our own cancellation
        transport, self._transport = self._transport, None
        endpoint, self._endpoint = self._endpoint, None
        if transport is not None and endpoint is not None:
            transport.close()
            await endpoint.closed  # the socket is closed only once connection_lost has run

    close = stop

    async def __aenter__(self) -> Discovery:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- sending --------------------------------------------------------------

    async def _announce_forever(self) -> None:
        while True:
            self._announce()
            await asyncio.sleep(self._next_delay())

    def _next_delay(self) -> float:
        # Jitter keeps nodes that started together (after a power cut, say)
        # from broadcasting in lockstep forever.
        return self._interval * random.uniform(1 - JITTER, 1 + JITTER)

    def _announce(self) -> None:
        if self._transport is None:
            return
        errors_before = self._errors
        try:
            self._transport.sendto(self._packet, self._destination)
        except OSError as exc:  # selector transports report through error_received instead
            self._network_error(exc)
        if self._errors == errors_before:
            self._last_error = None  # sending works (again): warn on the next failure

    def _network_error(self, exc: Exception) -> None:
        """No network, unreachable broadcast address...: logged, never raised.
        Warn once per kind of error, not every interval while it lasts."""
        self._errors += 1
        text = f"{type(exc).__name__}: {exc}"
        if text != self._last_error:
            self._log.warning("discovery: cannot send to %s:%d: %s", *self._destination, text)
            self._last_error = text
        else:
            self._log.debug("discovery: cannot send to %s:%d: %s", *self._destination, text)

    # -- receiving ------------------------------------------------------------

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        host = addr[0]
        try:
            announcement = decode_announcement(data)
        except DiscoveryError as exc:
            self._log.debug("discovery: ignoring packet from %s:%d: %s", host, addr[1], exc)
            return
        if announcement.network != self._announcement.network:
            self._log.debug("discovery: ignoring node %s at %s: another network",
                            announcement.fingerprint, host)
            return
        if announcement.node_key == self._announcement.node_key:
            return  # our own broadcast, looped back to us
        if not self._limiter.allow(announcement.node_key, asyncio.get_running_loop().time()):
            return
        self._log.debug("discovery: node %s at %s, tcp port %d",
                        announcement.fingerprint, host, announcement.port)
        try:
            self._on_peer(host, announcement.port, announcement.node_key)
        except Exception:
            self._log.exception("discovery: on_peer failed for node %s", announcement.fingerprint)


__all__ = [
    "ANNOUNCEMENT_SIZE", "ANNOUNCEMENT_VERSION", "DEFAULT_DISCOVERY_PORT", "DEFAULT_INTERVAL",
    "MAGIC", "Announcement", "Discovery", "DiscoveryError", "decode_announcement",
    "encode_announcement", "network_tag",
]
