"""The secure channel: length-prefixed frames sealed with secretstream.

After the handshake's key exchange each side holds a transmit key and a
receive key. Each direction is one `crypto_secretstream_xchacha20poly1305`
stream: its 24-byte header is sent once, then every frame is

    length (4 bytes, big-endian, = len(sealed))  ||  sealed

where `sealed` is the secretstream ciphertext of the payload (payload + 17
bytes) with the 4 length bytes as additional data, so the length is
authenticated too. The stream state makes every frame depend on all frames
before it in the same direction: a frame that is replayed, reordered, dropped
(and followed by another), truncated or altered fails authentication.

A length above MAX_FRAME is refused before anything is read or allocated. Any
error leaves the channel broken: every later recv()/send() raises again and
the caller closes the connection. docs/protocol.md has the byte layout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import nacl.exceptions
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_ABYTES as ABYTES,
    crypto_secretstream_xchacha20poly1305_HEADERBYTES as HEADER_SIZE,
    crypto_secretstream_xchacha20poly1305_KEYBYTES as KEY_SIZE,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL as TAG_FINAL,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE as TAG_MESSAGE,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
)

LENGTH_SIZE = 4
# The largest sealed frame (the value of the length prefix): 1 MiB of block
# data plus room for the message header and the seal.
MAX_FRAME = 1024 * 1024 + 64 * 1024
# The largest payload that fits in one frame.
MAX_PAYLOAD = MAX_FRAME - ABYTES
DEFAULT_IDLE_TIMEOUT = 60.0
_JOIN_BELOW = 64 * 1024  # sealed frames up to this size go out with their length in one write
CLOSE_TIMEOUT = 1.0

__all__ = [
    "ABYTES", "HEADER_SIZE", "LENGTH_SIZE", "MAX_FRAME", "MAX_PAYLOAD", "ChannelClosed",
    "ChannelError", "SecureChannel", "TransportError",
]


class TransportError(Exception):
    """Base of every error that means: drop this connection."""


class ChannelError(TransportError):
    """The channel cannot be used any more (bad frame, EOF, timeout, socket error)."""

    @property
    def reason(self) -> str:
        return str(self)


class ChannelClosed(ChannelError):
    """The peer closed the channel cleanly (it sent a final frame)."""


class SecureChannel:
    """Sealed frames over an asyncio stream pair.

    Build it with the session keys, then `send_header()` and
    `await recv_header()` (or both at once with `await SecureChannel.open(...)`).
    One task may `recv()` at a time; `send()` may be called from several tasks
    (each frame is sealed and written without an await in between).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 tx_key: bytes, rx_key: bytes, *,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> None:
        if len(tx_key) != KEY_SIZE or len(rx_key) != KEY_SIZE:
            raise ValueError(f"channel keys must be {KEY_SIZE} bytes")
        self._reader = reader
        self._writer = writer
        # Seconds recv() waits for a whole frame, and send() for the peer to
        # take it; None waits forever. A timeout breaks the channel.
        self.idle_timeout = idle_timeout
        self._push = crypto_secretstream_xchacha20poly1305_state()
        self._header = crypto_secretstream_xchacha20poly1305_init_push(self._push, tx_key)
        self._rx_key: bytes | None = rx_key
        self._pull: Any = None
        self._header_sent = False
        self._rx_error: ChannelError | None = None
        self._tx_error: ChannelError | None = None
        self._receiving = False
        self._closed = False
        self._closed_why = "channel is closed"     # what calls after close() or abort() raise
        # When a frame last went out or came in (time.monotonic()): how idle the
        # session is, for a server that must choose whom to drop when full.
        self.last_activity = time.monotonic()

    @classmethod
    async def open(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   tx_key: bytes, rx_key: bytes, *,
                   idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> SecureChannel:
        """A channel with both headers exchanged."""
        channel = cls(reader, writer, tx_key, rx_key, idle_timeout=idle_timeout)
        channel.send_header()
        await channel.recv_header()
        return channel

    @property
    def peer_address(self) -> Any:
        return self._writer.get_extra_info("peername")

    @property
    def is_closed(self) -> bool:
        return self._closed

    # -- headers ---------------------------------------------------------------

    def send_header(self) -> None:
        """Queue our 24-byte stream header (sent with the next drain)."""
        if self._header_sent:
            raise RuntimeError("header already sent")
        self._header_sent = True
        self._writer.write(self._header)

    async def recv_header(self) -> None:
        """Read the peer's 24-byte stream header (no timeout of its own)."""
        if self._rx_key is None:
            raise RuntimeError("header already received")
        header = await self._read_exactly(HEADER_SIZE, "stream header")
        self._pull = crypto_secretstream_xchacha20poly1305_state()
        crypto_secretstream_xchacha20poly1305_init_pull(self._pull, header, self._rx_key)
        self._rx_key = None

    # -- frames ----------------------------------------------------------------

    async def send(self, payload: bytes, *, final: bool = False) -> None:
        """Seal and send one frame; `final` marks the last frame of this direction."""
        self._check_can_send()
        self._write_frame(payload, final)
        if final:
            self._tx_error = ChannelError("channel is closed")
        await self._drain()

    async def send_many(self, payloads: Sequence[bytes]) -> None:
        """Seal and send several frames, in order, with one write and one wait for the peer.

        For an answer of many small messages (a records answer is up to 1025
        frames): per frame, a write call, a drain and a timeout cost more
        than the sealing.
        """
        self._check_can_send()
        for payload in payloads:  # all checked before any is sealed: sealing advances the stream
            _check_size(payload)
        if len(payloads) == 1:  # a blob chunk, mostly: not worth copying to join
            self._write_frame(payloads[0], final=False)
        else:
            pieces: list[bytes] = []
            for payload in payloads:
                pieces.extend(self._seal(payload, final=False))
            self._writer.write(b"".join(pieces))
        self.last_activity = time.monotonic()
        await self._drain()

    def _check_can_send(self) -> None:
        if not self._header_sent:
            raise RuntimeError("send_header() first")
        if self._closed:
            raise ChannelError(self._closed_why)
        if self._tx_error is not None:
            raise self._tx_error

    def _seal(self, payload: bytes, final: bool) -> tuple[bytes, bytes]:
        """The next frame of our stream: its length prefix and the sealed payload."""
        _check_size(payload)
        length = (len(payload) + ABYTES).to_bytes(LENGTH_SIZE, "big")
        sealed = crypto_secretstream_xchacha20poly1305_push(
            self._push, bytes(payload), length, TAG_FINAL if final else TAG_MESSAGE)
        return length, sealed

    def _write_frame(self, payload: bytes, final: bool) -> None:
        self.last_activity = time.monotonic()
        length, sealed = self._seal(payload, final)
        if len(sealed) <= _JOIN_BELOW:
            self._writer.write(length + sealed)
        else:  # a big frame: a second write costs less than copying it
            self._writer.write(length)
            self._writer.write(sealed)

    async def _drain(self) -> None:
        """Wait until the peer has taken enough of what we wrote; any failure breaks sending."""
        try:
            async with asyncio.timeout(self.idle_timeout):
                await self._writer.drain()
        except TimeoutError:
            self._tx_error = ChannelError(f"send timed out after {self.idle_timeout} s")
            raise self._tx_error from None
        except OSError as exc:
            self._tx_error = ChannelError(f"connection error: {exc}")
            raise self._tx_error from None
        except BaseException:
            self._tx_error = ChannelError("send interrupted")
            raise

    async def recv(self, *, limit: int = MAX_PAYLOAD) -> bytes:
        """The next payload. Raises ChannelClosed after the peer's final frame,
        ChannelError for anything else that ends the channel (a frame longer
        than `limit` included)."""
        if self._pull is None:
            raise RuntimeError("recv_header() first")
        if self._receiving:
            raise RuntimeError("recv() is already running in another task")
        if self._rx_error is not None:
            raise self._rx_error
        if self._closed:
            raise ChannelError(self._closed_why)
        self._receiving = True
        try:
            async with asyncio.timeout(self.idle_timeout):
                return await self._recv_frame(limit)
        except TimeoutError:
            self._rx_error = ChannelError(f"idle timeout: no frame within {self.idle_timeout} s")
            raise self._rx_error from None
        except ChannelError as exc:
            self._rx_error = exc
            raise
        except BaseException:
            # Cancelled part-way through a frame: the stream is out of step.
            self._rx_error = ChannelError("receive interrupted")
            raise
        finally:
            self._receiving = False

    async def _recv_frame(self, limit: int) -> bytes:
        head = await self._read_exactly(LENGTH_SIZE, "frame length", eof_ok=True)
        length = int.from_bytes(head, "big")
        if length > MAX_FRAME:
            raise ChannelError(f"frame length {length} exceeds MAX_FRAME ({MAX_FRAME})")
        if length < ABYTES:
            raise ChannelError(f"frame length {length} is shorter than the seal ({ABYTES})")
        if length - ABYTES > limit:
            raise ChannelError(f"frame of {length - ABYTES} bytes exceeds the limit of {limit}")
        sealed = await self._read_exactly(length, "frame")
        try:
            payload, tag = crypto_secretstream_xchacha20poly1305_pull(self._pull, sealed, head)
        except nacl.exceptions.CryptoError:
            raise ChannelError("frame failed authentication "
                               "(altered, replayed, reordered or from another session)") from None
        self.last_activity = time.monotonic()
        if tag == TAG_FINAL:
            raise ChannelClosed("peer closed the channel")
        return payload

    async def _read_exactly(self, n: int, what: str, *, eof_ok: bool = False) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            if self._closed:  # close() or abort() was called while we waited
                raise ChannelError(self._closed_why) from None
            if not exc.partial and eof_ok:
                raise ChannelError("connection closed unexpectedly (no final frame)") from None
            raise ChannelError(f"truncated {what}: connection closed after "
                               f"{len(exc.partial)} of {n} bytes") from None
        except OSError as exc:
            raise ChannelError(f"connection error: {exc}") from None

    # -- closing ---------------------------------------------------------------

    async def close(self) -> None:
        """Send a final frame (if the channel still works) and close the connection."""
        if self._closed:
            return
        if self._header_sent and self._tx_error is None:
            try:
                idle, self.idle_timeout = self.idle_timeout, CLOSE_TIMEOUT
                try:
                    await self.send(b"", final=True)
                finally:
                    self.idle_timeout = idle
            except ChannelError:
                pass
        self._closed = True
        self._writer.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._writer.wait_closed()
        except (OSError, TimeoutError):
            pass

    def abort(self, why: str | None = None) -> None:
        """Drop the connection at once, without a final frame; `why` is what the
        channel's calls raise from now on (a task waiting in recv() included)."""
        self._closed = True
        if why is not None:
            self._closed_why = why
        transport = self._writer.transport
        if transport is not None:
            transport.abort()

    async def __aenter__(self) -> SecureChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD ({MAX_PAYLOAD})")
