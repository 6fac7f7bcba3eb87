"""The shard's direct link over real loopback TCP: batches answered in order and matched by
request, a connection without the token refused, and a caller that comes back after the
shard restarts (on a new port) and sends its unanswered batch again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.actors.link import LinkClient, LinkServer, new_token


class Shard:
    """A stand-in shard: answers a batch with its bytes reversed, after `delay` seconds."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.delay = 0.0
        self.token = new_token()
        self.server = LinkServer(self.submit, self.token)
        self.address: tuple[str, int] = ("", 0)

    async def submit(self, payload: bytes) -> bytes:
        self.seen.append(payload)
        if payload == b"fail":
            raise RuntimeError("the shard has not started")
        await asyncio.sleep(self.delay)
        return payload[::-1]

    async def start(self) -> dict[str, Any]:
        self.address = await self.server.start("127.0.0.1")
        return {"link": list(self.address), "link_token": self.token}


async def test_batches_in_flight_together_get_their_own_answers() -> None:
    shard = Shard()
    info = await shard.start()
    client = LinkClient(shard.start, info)
    answers = await asyncio.gather(*(client.send(f"batch-{n}".encode()) for n in range(50)))
    assert answers == [f"batch-{n}".encode()[::-1] for n in range(50)]
    assert shard.seen == [f"batch-{n}".encode() for n in range(50)], "applied in order sent"
    await client.close()
    await shard.server.close()


async def test_a_connection_without_the_token_is_closed() -> None:
    shard = Shard()
    await shard.start()
    host, port = shard.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"0" * 32 + b"\x00\x00\x00\x04\x00\x00\x00\x01\x00ping")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert shard.seen == []
    writer.close()
    await shard.server.close()


async def test_after_a_restart_the_unanswered_batch_is_sent_again() -> None:
    first = Shard()
    info = await first.start()
    restarted = Shard()
    resolved: list[int] = []

    async def resolve() -> dict[str, Any]:  # what the actor's ready() answers after restart
        resolved.append(1)
        return await restarted.start()

    client = LinkClient(resolve, info)
    assert await client.send(b"one") == b"eno"
    first.delay = 10.0
    pending = asyncio.ensure_future(client.send(b"two"))
    await asyncio.sleep(0.05)
    await first.server.close()  # the shard's process dies with the batch unanswered
    assert await asyncio.wait_for(pending, 5) == b"owt"
    assert resolved == [1] and restarted.seen == [b"two"]
    await client.close()
    await restarted.server.close()


async def test_a_batch_the_shard_cannot_apply_is_tried_again_once_it_is_ready() -> None:
    shard = Shard()
    info = await shard.start()
    calls: list[int] = []

    async def resolve() -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 2:
            raise LookupError("the shard has stopped for good")
        return info

    client = LinkClient(resolve, info)
    with pytest.raises(LookupError):
        await client.send(b"fail")
    assert shard.seen == [b"fail", b"fail"] and len(calls) == 2
    await client.close()
    await shard.server.close()
