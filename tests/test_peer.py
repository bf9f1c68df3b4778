"""PeerLink's answering half over a real sealed session on 127.0.0.1.

The serving side is a PeerLink with a scripted answerer; the asking side is a
bare Session that writes requests and reads answers when the test says so,
so the test controls when the server's sends can complete.
"""

from __future__ import annotations

import asyncio
import os

from nacl.signing import SigningKey

from fixme.node.handshake import Session, connect, serve
from fixme.node.messages import (Block, Bye, HelloLogs, NotFound, Records, WantBlock, WantRecords, decode_message,
                                 encode_message, make_block)
from fixme.node.peer import PeerLink, PeerError, SessionDeadlines

HOST = "127.0.0.1"
NETWORK = bytes(range(32))
SERVER = SigningKey(b"s" * 32)
CLIENT = SigningKey(b"c" * 32)
MIB = 1 << 20
BIG = make_block(os.urandom(MIB))
SMALL = make_block(b"the second answer")


def run(coro, limit: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, limit))


async def linked(answer, deadlines: SessionDeadlines = SessionDeadlines()
                 ) -> tuple[asyncio.Server, Session, asyncio.Future]:
    """A server whose sessions are answered by a PeerLink; a client session to it; the link."""
    link_future: asyncio.Future[PeerLink] = asyncio.get_running_loop().create_future()

    async def on_session(session: Session) -> None:
        link = PeerLink(session, answer, deadlines=deadlines)
        link.start()
        link_future.set_result(link)
        await asyncio.Event().wait()   # until the server closes

    server = await serve(HOST, 0, SERVER, NETWORK, on_session)
    client = await connect(HOST, server.sockets[0].getsockname()[1], CLIENT, NETWORK)
    return server, client, link_future


def test_the_next_answer_is_prepared_while_the_previous_one_is_still_going_out():
    # The first answer is 16 MiB of blocks, more than loopback's socket
    # buffers hold, so its send cannot finish until the client reads. The
    # second request must be answered from storage before that.
    second_started = asyncio.Event()

    async def answer(request):
        if request.id == BIG.id:
            return [BIG] * 16
        second_started.set()
        return [SMALL]

    async def scenario():
        server, client, link_future = await linked(answer)
        await client.send(encode_message(WantBlock(BIG.id)))
        await client.send(encode_message(WantBlock(SMALL.id)))
        await asyncio.wait_for(second_started.wait(), 5.0)   # nothing read yet
        answers = [decode_message(await client.recv()) for _ in range(17)]
        link = await link_future
        await link.close()
        server.close()
        return answers

    answers = run(scenario())
    assert [a.id for a in answers] == [BIG.id] * 16 + [SMALL.id]


def test_answers_go_out_in_request_order_whatever_each_takes_to_prepare():
    delays = {0: 0.3, 1: 0.0, 2: 0.1, 3: 0.0}
    blocks = [make_block(f"block {n}".encode()) for n in delays]

    async def answer(request):
        n = next(i for i, b in enumerate(blocks) if b.id == request.id)
        await asyncio.sleep(delays[n])
        return [blocks[n]] if n != 2 else [NotFound(request.id)]

    async def scenario():
        server, client, link_future = await linked(answer)
        for block in blocks:
            await client.send(encode_message(WantBlock(block.id)))
        answers = [decode_message(await client.recv()) for _ in blocks]
        await (await link_future).close()
        server.close()
        return answers

    answers = run(scenario())
    assert [type(a) for a in answers] == [Block, Block, NotFound, Block]
    assert [a.id for a in answers] == [b.id for b in blocks]


def test_an_answer_that_fails_while_prepared_ahead_ends_the_session_with_a_reason():
    async def answer(request):
        if request.id == SMALL.id:
            raise ValueError("the storage thread broke")
        return [BIG] * 8

    async def scenario():
        server, client, link_future = await linked(answer)
        await client.send(encode_message(WantBlock(BIG.id)))
        await client.send(encode_message(WantBlock(SMALL.id)))
        link = await link_future
        async with asyncio.timeout(5.0):
            while link.failure is None:
                await asyncio.sleep(0.01)
        failure = link.failure
        await link.close()
        server.close()
        return failure

    failure = run(scenario())
    assert "internal error: the storage thread broke" in str(failure)


def test_a_peer_that_pulled_many_records_has_time_to_store_them_before_its_bye():
    """The peer stores what it pulled before it says bye: 400,000 records took longer than
    the 60 s a bye may take. The wait grows with the records it was sent."""
    records = [make_block(f"record {n}".encode()) for n in range(50)]

    async def answer(request):
        return [Records(len(records)), *records]

    async def pull_then_store(per_record: float) -> BaseException | None:
        deadlines = SessionDeadlines(bye=0.4, bye_per_record=per_record)
        server, client, link_future = await linked(answer, deadlines)
        await client.send(encode_message(HelloLogs(())))
        await client.send(encode_message(WantRecords((records[0].id,))))
        for _ in range(1 + len(records)):
            await client.recv()
        link = await link_future
        finished = asyncio.ensure_future(link.finish())
        assert isinstance(decode_message(await client.recv()), Bye)
        await asyncio.sleep(1.0)            # storing: longer than `bye` alone allows
        try:
            await client.send(encode_message(Bye()))
        except Exception:
            pass                            # the server gave up and closed
        try:
            await finished
            return None
        except PeerError as exc:
            return exc
        finally:
            server.close()

    assert run(pull_then_store(0.02)) is None   # 0.4 s + 50 records x 20 ms
    failure = run(pull_then_store(0.0))
    assert failure is not None and "no bye within 0.4 s" in str(failure)
