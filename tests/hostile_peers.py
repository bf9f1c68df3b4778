"""Peers that misbehave, for tests: they speak the protocol through fixme's own
handshake and codec, and say what the test tells them to."""

from __future__ import annotations

import asyncio
import os
import random

from nacl.signing import SigningKey

from fixme.node.channel import ChannelClosed, TransportError
from fixme.node.handshake import Session, initiate, serve
from fixme.node.hashing import block_id
from fixme.node.messages import Bye, HaveBlob, HelloLogs, WantBlock, WantChunk, WantRecords

HOST = "127.0.0.1"


class FakePeer:
    """A scripted peer serving on 127.0.0.1: it announces `logs`, answers every
    request with `answer(request)` (messages, or raw payloads it wants to send
    as they are), and answers bye with bye."""

    def __init__(self, network_key: bytes, answer=lambda request: [], logs=(), key: SigningKey | None = None):
        self.network_key = network_key
        self.answer, self.logs = answer, tuple(logs)
        self.key = key or SigningKey(b"m" * 32)
        self.requests: list = []

    async def start(self) -> str:
        self.server = await serve(HOST, 0, self.key, self.network_key, self.play, handshake_timeout=2.0,
                                  idle_timeout=5.0)
        return f"{HOST}:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def play(self, session: Session) -> None:
        """The script, on a session it accepted or dialled."""
        await session.send_message(HelloLogs(self.logs))
        while True:
            try:
                msg = await session.recv_message()
            except ChannelClosed:
                return
            if isinstance(msg, Bye):
                await session.send_message(Bye())
                return
            if isinstance(msg, (WantRecords, HaveBlob, WantChunk, WantBlock)):
                self.requests.append(msg)
                for reply in self.answer(msg):
                    await (session.send(reply) if isinstance(reply, bytes) else session.send_message(reply))


# -- attackers that hold connections -------------------------------------------------

async def dial(port: int, key: SigningKey, network_key: bytes, source: str = HOST) -> Session:
    """An honest handshake with the node on 127.0.0.1:`port`, from the local address `source`
    (any 127.x.y.z: to the node, another machine)."""
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    return await initiate(reader, writer, key, network_key, timeout=5.0, idle_timeout=None)


class Attack:
    """Connections kept open by tasks of this loop: each one reconnects `pause` seconds
    after it was closed, as a determined attacker would."""

    def __init__(self, pause: float):
        self.pause = pause
        self.connects = 0      # connections opened (or tried)
        self._tasks: list[asyncio.Task] = []

    def launch(self, worker, *args) -> None:
        self._tasks.append(asyncio.create_task(self._forever(worker, *args)))

    async def _forever(self, worker, *args) -> None:
        while True:
            self.connects += 1
            try:
                await worker(*args)
            except (OSError, TransportError, asyncio.IncompleteReadError):
                pass
            await asyncio.sleep(self.pause)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Slowloris(Attack):
    """Connections without the network key: the protocol's version byte, then one random
    byte a second, never a whole hello. `sources` maps a local address to its connections."""

    def __init__(self, port: int, sources: dict[str, int], pause: float = 0.2):
        super().__init__(pause)
        for source, count in sources.items():
            for _ in range(count):
                self.launch(self._trickle, port, source)

    @staticmethod
    async def _trickle(port: int, source: str) -> None:
        reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
        try:
            writer.write(b"\x01")
            while not reader.at_eof() and not writer.is_closing():
                await writer.drain()
                await asyncio.sleep(1.0)
                writer.write(os.urandom(1))
        finally:
            writer.transport.abort()


class IdleSessions(Attack):
    """Authenticated sessions that stay and do next to nothing: each has its own random key,
    announces no log, asks for one block nobody has every `every` seconds, never says bye."""

    def __init__(self, port: int, network_key: bytes, count: int, every: float = 30.0,
                 source: str = HOST, pause: float = 1.0):
        super().__init__(pause)
        self.sessions = 0      # handshakes that succeeded
        for _ in range(count):
            self.launch(self._idle, port, network_key, every, source)

    async def _idle(self, port: int, network_key: bytes, every: float, source: str) -> None:
        session = await dial(port, SigningKey.generate(), network_key, source)
        self.sessions += 1
        reading = asyncio.create_task(_drain(session))
        try:
            await session.send_message(HelloLogs(()))
            await asyncio.sleep(random.uniform(0, every))   # not all in step
            while not reading.done():
                await session.send_message(WantBlock(block_id(os.urandom(8))))
                await asyncio.wait([reading], timeout=every)
        finally:
            reading.cancel()
            session.channel.abort()


async def _drain(session: Session) -> None:
    """Read (and drop) whatever the node sends, until it hangs up."""
    try:
        while True:
            await session.recv()
    except TransportError:
        return
