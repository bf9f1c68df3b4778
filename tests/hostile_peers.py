"""Peers that misbehave, for tests: they speak the protocol through fixme's own
handshake and codec, and say what the test tells them to."""

from __future__ import annotations

from nacl.signing import SigningKey

from fixme.node.channel import ChannelClosed
from fixme.node.handshake import Session, serve
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
        self.server = await serve(HOST, 0, self.key, self.network_key, self._session, handshake_timeout=2.0,
                                  idle_timeout=5.0)
        return f"{HOST}:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _session(self, session: Session) -> None:
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
