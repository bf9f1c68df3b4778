"""The handshake of the sync node, and connect()/serve() built on it.

    initiator (client)                          responder (server)
    hello_I                      ------------>  check version and MAC
    check version and MAC        <------------  hello_R, header_R, [identity_R]
    check identity_R, allow list
    header_I, [identity_I]       ------------>  check identity_I, allow list
    session                      <------------  [accept] (or [refuse, reason])
                                                session

A hello is fixed-size: version (1) || ephemeral X25519 public key (32) ||
HMAC-SHA-512-256 under the 32-byte network key (32). A peer without the
network key cannot make a hello we accept, so it never gets further. The
responder says nothing before it has checked the initiator's hello.

The session keys come from crypto_kx (initiator = client). Each direction is
then a secretstream (channel.py); the [bracketed] messages are frames in it,
so node identities are hidden from a passive observer. An identity is the
ed25519 node key (32) and its signature (64) of

    SIGNATURE_CONTEXT || role || hello_I || hello_R

which binds it to both ephemeral keys, hence to this session. The responder
shows its identity first (discovery announces it anyway); the initiator shows
its own only to a responder it has checked. docs/protocol.md has the bytes.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Union

from nacl.bindings import (
    crypto_kx_PUBLIC_KEY_BYTES,
    crypto_kx_client_session_keys,
    crypto_kx_keypair,
    crypto_kx_server_session_keys,
)
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from fixme.node.admission import Admission, SummaryLog, Ticket, peer_host
from fixme.node.channel import (
    DEFAULT_IDLE_TIMEOUT,
    ChannelClosed,
    ChannelError,
    LENGTH_SIZE,
    MAX_FRAME,
    SecureChannel,
    TransportError,
)
from fixme.node.messages import Message, decode_message, encode_message
from fixme.node.sniff import SNIFF_BYTES, not_fixme

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
NETWORK_KEY_SIZE = 32
MAC_SIZE = 32
HELLO_SIZE = 1 + crypto_kx_PUBLIC_KEY_BYTES + MAC_SIZE  # 65
HELLO_CONTEXT = b"fixme/node/hello"                           # 16 bytes
SIGNATURE_CONTEXT = b"fixme/node/handshake-signature"         # 30 bytes
ROLE_INITIATOR = b"I"
ROLE_RESPONDER = b"R"
NODE_KEY_SIZE = 32
SIGNATURE_SIZE = 64
IDENTITY_SIZE = NODE_KEY_SIZE + SIGNATURE_SIZE  # 96
ACCEPT = b"\x01"
REFUSE = b"\x00"
MAX_REFUSAL_REASON = 64  # bytes, so a refusal frame is never IDENTITY_SIZE long
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
SNIFF_WAIT = 0.5  # seconds to wait for the rest of a stranger's banner (sniff.py)
# What a connection buffers from the socket before it stops reading (asyncio
# pauses at twice this). The default, 64 KiB, paused and resumed reading
# about four times per 1 MiB frame: two epoll calls each, a tenth of the
# receiving loop's time during a blob fetch.
READ_BUFFER = MAX_FRAME + LENGTH_SIZE

# Who may connect: None (any node of the network), a collection of allowed
# ed25519 public keys (bytes or VerifyKey), or a predicate on the key bytes.
Allowed = Union[None, Collection[Any], Callable[[bytes], bool]]
# The responder's say on a checked peer key: None admits it, a string is why not
# (sent to the peer as the refusal reason).
Admit = Callable[[bytes], Union[str, None]]


class HandshakeError(TransportError):
    """The handshake failed; the connection has been closed."""


@dataclass(eq=False)
class Session:
    """An authenticated connection: the peer's node key and the sealed channel."""

    peer_key: bytes            # the peer's ed25519 public key (32 bytes)
    role: str                  # ours: "initiator" or "responder"
    channel: SecureChannel

    @property
    def peer_verify_key(self) -> VerifyKey:
        return VerifyKey(self.peer_key)

    @property
    def peer_address(self) -> Any:
        return self.channel.peer_address

    async def send(self, payload: bytes) -> None:
        await self.channel.send(payload)

    async def send_many(self, payloads: Sequence[bytes]) -> None:
        await self.channel.send_many(payloads)

    async def recv(self) -> bytes:
        return await self.channel.recv()

    async def send_message(self, msg: Message) -> None:
        await self.channel.send(encode_message(msg))

    async def recv_message(self) -> Message:
        """The next message; ProtocolError if the peer sent an invalid one."""
        return decode_message(await self.channel.recv())

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# -- hellos -------------------------------------------------------------------

def hello_mac(network_key: bytes, version: int, ephemeral_public: bytes, role: bytes) -> bytes:
    """HMAC-SHA-512-256 (what libsodium's crypto_auth computes) of a hello."""
    data = HELLO_CONTEXT + bytes([version]) + ephemeral_public + role
    return hmac.new(network_key, data, "sha512").digest()[:MAC_SIZE]


def build_hello(network_key: bytes, ephemeral_public: bytes, role: bytes, *,
                version: int = PROTOCOL_VERSION) -> bytes:
    return bytes([version]) + ephemeral_public + hello_mac(network_key, version, ephemeral_public, role)


async def _read_hello(reader: asyncio.StreamReader, network_key: bytes, role: bytes) -> bytes:
    """The peer's hello (all 65 bytes), checked. The version byte comes first
    and alone, so a peer of another version is refused at once."""
    version = await _read_exactly(reader, 1)
    if version[0] != PROTOCOL_VERSION:
        if role == ROLE_INITIATOR:   # a stranger dialled us: never wait on it to say more
            raise HandshakeError(f"unsupported protocol version {version[0]}")
        # We dialled: say what answered (a web server? an SSH server?).
        raise HandshakeError(not_fixme(version + await _a_few_more(reader)))
    rest = await _read_exactly(reader, HELLO_SIZE - 1)
    ephemeral_public, mac = rest[:crypto_kx_PUBLIC_KEY_BYTES], rest[crypto_kx_PUBLIC_KEY_BYTES:]
    expected = hello_mac(network_key, version[0], ephemeral_public, role)
    if not hmac.compare_digest(mac, expected):
        raise HandshakeError("bad hello MAC (another network key?)")
    return version + rest


async def _a_few_more(reader: asyncio.StreamReader) -> bytes:
    """What else the other side sent with its first byte (a banner, a status line), if it came at once."""
    try:
        async with asyncio.timeout(SNIFF_WAIT):
            return await reader.read(SNIFF_BYTES - 1)
    except (TimeoutError, OSError):
        return b""


async def _read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise HandshakeError("connection closed by the peer during the handshake") from None
    except OSError as exc:
        raise HandshakeError(f"connection error: {exc}") from None


# -- identities ---------------------------------------------------------------

def _signed_part(role: bytes, hello_i: bytes, hello_r: bytes) -> bytes:
    return SIGNATURE_CONTEXT + role + hello_i + hello_r


def _identity(identity: SigningKey, role: bytes, hello_i: bytes, hello_r: bytes) -> bytes:
    signature = identity.sign(_signed_part(role, hello_i, hello_r)).signature
    return bytes(identity.verify_key) + signature


def _is_allowed(allowed: Allowed, key: bytes) -> bool:
    if allowed is None:
        return True
    if callable(allowed):
        return bool(allowed(key))
    return any(bytes(item) == key for item in allowed)


async def _recv_identity(channel: SecureChannel, role: bytes, hello_i: bytes,
                         hello_r: bytes, allowed: Allowed) -> bytes:
    """The peer's checked node key, or a refusal sent and HandshakeError raised."""
    payload = await channel.recv(limit=IDENTITY_SIZE)
    if len(payload) != IDENTITY_SIZE:
        if payload[:1] == REFUSE:
            raise HandshakeError(f"peer refused us: {_reason(payload)}")
        raise HandshakeError(f"identity message of {len(payload)} bytes, not {IDENTITY_SIZE}")
    key, signature = payload[:NODE_KEY_SIZE], payload[NODE_KEY_SIZE:]
    try:
        VerifyKey(key).verify(_signed_part(role, hello_i, hello_r), signature)
    except (BadSignatureError, ValueError):
        await _refuse(channel, "bad signature")
        raise HandshakeError("bad transcript signature") from None
    if not _is_allowed(allowed, key):
        await _refuse(channel, "node key not allowed")
        raise HandshakeError(f"node key {key.hex()} is not allowed")
    return key


async def _refuse(channel: SecureChannel, reason: str) -> None:
    """Tell the peer why (best effort): a frame REFUSE || reason."""
    try:
        await channel.send(REFUSE + reason.encode("utf-8")[:MAX_REFUSAL_REASON])
    except (ChannelError, ValueError):
        pass


def _reason(payload: bytes) -> str:
    return payload[1:1 + MAX_REFUSAL_REASON].decode("utf-8", "replace") or "no reason"


# -- the two roles ------------------------------------------------------------

def _check_arguments(identity: SigningKey, network_key: bytes) -> None:
    if not isinstance(identity, SigningKey):
        raise TypeError("identity must be a nacl.signing.SigningKey")
    if len(network_key) != NETWORK_KEY_SIZE:
        raise ValueError(f"the network key must be {NETWORK_KEY_SIZE} bytes")


async def _initiate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    identity: SigningKey, network_key: bytes, allowed: Allowed) -> Session:
    public, secret = crypto_kx_keypair()
    hello_i = build_hello(network_key, public, ROLE_INITIATOR)
    writer.write(hello_i)
    await writer.drain()
    hello_r = await _read_hello(reader, network_key, ROLE_RESPONDER)
    rx, tx = crypto_kx_client_session_keys(public, secret, hello_r[1:1 + crypto_kx_PUBLIC_KEY_BYTES])
    channel = SecureChannel(reader, writer, tx, rx, idle_timeout=None)
    channel.send_header()
    await channel.recv_header()
    peer_key = await _recv_identity(channel, ROLE_RESPONDER, hello_i, hello_r, allowed)
    await channel.send(_identity(identity, ROLE_INITIATOR, hello_i, hello_r))
    verdict = await channel.recv(limit=1 + MAX_REFUSAL_REASON)
    if verdict != ACCEPT:
        if verdict[:1] == REFUSE:
            raise HandshakeError(f"peer refused us: {_reason(verdict)}")
        raise HandshakeError("malformed verdict from the responder")
    return Session(peer_key, "initiator", channel)


async def _respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   identity: SigningKey, network_key: bytes, allowed: Allowed,
                   on_hello: Callable[[], None] | None, admit: Admit | None) -> Session:
    hello_i = await _read_hello(reader, network_key, ROLE_INITIATOR)
    if on_hello is not None:
        on_hello()
    public, secret = crypto_kx_keypair()
    hello_r = build_hello(network_key, public, ROLE_RESPONDER)
    rx, tx = crypto_kx_server_session_keys(public, secret, hello_i[1:1 + crypto_kx_PUBLIC_KEY_BYTES])
    channel = SecureChannel(reader, writer, tx, rx, idle_timeout=None)
    writer.write(hello_r)
    channel.send_header()
    await channel.send(_identity(identity, ROLE_RESPONDER, hello_i, hello_r))
    await channel.recv_header()
    peer_key = await _recv_identity(channel, ROLE_INITIATOR, hello_i, hello_r, allowed)
    refusal = admit(peer_key) if admit is not None else None
    if refusal is not None:
        await _refuse(channel, refusal)
        raise HandshakeError(f"session refused: {refusal}")
    await channel.send(ACCEPT)
    return Session(peer_key, "responder", channel)


async def _run(step: Awaitable[Session], writer: asyncio.StreamWriter, timeout: float | None,
               idle_timeout: float | None) -> Session:
    """Run one side's handshake under its deadline; on failure close the
    connection and raise HandshakeError."""
    try:
        async with asyncio.timeout(timeout):
            session = await step
    except TimeoutError:
        _abort(writer)
        raise HandshakeError("timed out") from None
    except ChannelClosed:
        _abort(writer)
        raise HandshakeError("peer closed the channel during the handshake") from None
    except ChannelError as exc:
        _abort(writer)
        raise HandshakeError(f"handshake failed: {exc}") from None
    except HandshakeError:
        writer.close()  # not abort(): a refusal frame may still be on its way out
        raise
    except BaseException:
        _abort(writer)
        raise
    session.channel.idle_timeout = idle_timeout
    return session


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if transport is not None:
        transport.abort()


async def initiate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   identity: SigningKey, network_key: bytes, *, allowed: Allowed = None,
                   timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
                   idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> Session:
    """The initiator's (client's) handshake over an open connection."""
    _check_arguments(identity, network_key)
    return await _run(_initiate(reader, writer, identity, network_key, allowed), writer,
                      timeout, idle_timeout)


async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  identity: SigningKey, network_key: bytes, *, allowed: Allowed = None,
                  timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
                  idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
                  on_hello: Callable[[], None] | None = None, admit: Admit | None = None) -> Session:
    """The responder's (server's) handshake over an accepted connection.

    `on_hello()` is called once the initiator's hello checked out (it holds the
    network key); `admit(key)` once its identity did, and may refuse it.
    """
    _check_arguments(identity, network_key)
    return await _run(_respond(reader, writer, identity, network_key, allowed, on_hello, admit), writer,
                      timeout, idle_timeout)


# -- connection helpers -------------------------------------------------------

async def connect(host: str, port: int, identity: SigningKey, network_key: bytes, *,
                  allowed: Allowed = None, timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
                  idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> Session:
    """Connect and handshake as the initiator; `timeout` covers both.
    Raises HandshakeError for every failure (connection refused included)."""
    _check_arguments(identity, network_key)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await asyncio.open_connection(host, port, limit=READ_BUFFER)
    except TimeoutError:
        raise HandshakeError("timed out") from None
    except OSError as exc:
        raise HandshakeError(f"cannot connect to {host}:{port}: {exc}") from None
    remaining = None if deadline is None else max(0.0, deadline - loop.time())
    return await initiate(reader, writer, identity, network_key, allowed=allowed,
                          timeout=remaining, idle_timeout=idle_timeout)


async def serve(host: str, port: int, identity: SigningKey, network_key: bytes,
                on_session: Callable[[Session], Awaitable[None]], *, allowed: Allowed = None,
                admission: Admission | None = None,
                handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
                idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> asyncio.Server:
    """Listen; handshake each connection as the responder and run
    `on_session(session)`, closing the session when it returns.

    `admission` (default: the default budgets, nobody trusted or banned) says
    which connections may be handshaken and which may have a session, and
    drops idle ones to make room (admission.py). A failed handshake or session
    is logged and touches no other connection; refusals and failures that come
    in floods are summed up once per interval.
    """
    _check_arguments(identity, network_key)
    admission = admission or Admission()
    refusals = SummaryLog(log, admission.limits.refusal_log_interval)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer, host = _address(writer), peer_host(writer.get_extra_info("peername"))
        ticket = admission.arrive(host, lambda why: _abort(writer))
        if isinstance(ticket, str):
            refusals.event(logging.WARNING, f"refused connection: {ticket}",
                           f"refused connection from {peer}: {ticket}", host)
            _abort(writer)
            return
        try:
            await serve_one(reader, writer, peer, ticket)
        except asyncio.CancelledError:
            # The server is shutting down. Python 3.11's start_server logs a
            # cancelled handler as an error, so end quietly instead.
            _abort(writer)
        finally:
            admission.leave(ticket)

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                        ticket: Ticket) -> None:
        try:
            session = await respond(reader, writer, identity, network_key, allowed=allowed,
                                    timeout=handshake_timeout, idle_timeout=idle_timeout,
                                    on_hello=lambda: admission.hello_checked(ticket),
                                    admit=lambda key: admission.admit(ticket, key))
        except HandshakeError as exc:
            what = ticket.evicted or f"failed: {exc}"
            refusals.event(logging.INFO, f"handshake {what}", f"handshake with {peer} {what}", ticket.host)
            return
        except Exception:  # e.g. an `allowed` predicate that raised
            log.exception("handshake with %s failed", peer)
            return
        admission.session_started(ticket, session.channel, session.channel.abort)
        log.debug("session with %s (node %s)", peer, session.peer_key.hex())
        try:
            await on_session(session)
        except TransportError as exc:
            log.info("session with %s ended: %s", peer, exc)
        except Exception:
            log.exception("session handler for %s failed", peer)
        finally:
            await session.close()

    return await asyncio.start_server(handle, host, port, limit=READ_BUFFER)


def _address(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


__all__ = [
    "HELLO_SIZE", "IDENTITY_SIZE", "PROTOCOL_VERSION", "HandshakeError", "Session",
    "build_hello", "connect", "hello_mac", "initiate", "respond", "serve",
]
