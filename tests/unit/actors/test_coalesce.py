"""The adaptive batching of shard calls, against a fake actor handle whose replies the test
releases by hand."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import msgspec
import pytest

from engine.actors.coalesce import Callers, ShardCaller
from engine.actors.wire import encode_outcomes
from engine.core.commands import Join
from engine.core.errors import SeatUnavailable


class FakeShard:
    """`handle.execute_packed.remote(payload).future()`, answered when the test says."""

    def __init__(self) -> None:
        self.batches: list[list[list[Any]]] = []
        self.replies: list[Future[bytes]] = []
        self.execute_packed = self

    def remote(self, payload: bytes) -> FakeShard.Ref:
        future: Future[bytes] = Future()
        self.batches.append(msgspec.msgpack.decode(payload))
        self.replies.append(future)
        return FakeShard.Ref(future)

    class Ref:
        def __init__(self, future: Future[bytes]) -> None:
            self._future = future

        def future(self) -> Future[bytes]:
            return self._future

    def answer(self, k: int, outcome: Any = None) -> None:
        batch = self.batches[k]
        outcomes = [outcome if outcome is not None else ["ok", *cmd] for cmd in batch]
        self.replies[k].set_result(encode_outcomes(outcomes))


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_idle_shard_gets_each_command_at_once() -> None:
    shard = FakeShard()
    caller = ShardCaller(shard, depth=2)  # type: ignore[arg-type]
    first = asyncio.create_task(caller.call(Join("a")))
    await _settle()
    assert shard.batches == [[["join", "a"]]]
    shard.answer(0)
    assert await first == ["ok", "join", "a"]


async def test_commands_queue_behind_the_calls_in_flight_and_go_together() -> None:
    shard = FakeShard()
    caller = ShardCaller(shard, depth=2)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(caller.call(Join(str(i)))) for i in range(10)]
    await _settle()
    assert [len(b) for b in shard.batches] == [1, 1]  # the rest wait
    shard.answer(0)
    await _settle()
    assert [len(b) for b in shard.batches] == [1, 1, 8]
    shard.answer(1)
    shard.answer(2)
    results = await asyncio.gather(*tasks)
    assert results == [["ok", "join", str(i)] for i in range(10)]
    assert caller.calls == 3


async def test_batches_are_capped() -> None:
    shard = FakeShard()
    caller = ShardCaller(shard, depth=1, max_batch=3)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(caller.call(Join(str(i)))) for i in range(8)]
    await _settle()
    for k in range(4):
        shard.answer(k)
        await _settle()
    assert [len(b) for b in shard.batches] == [1, 3, 3, 1]
    assert [r[2] for r in await asyncio.gather(*tasks)] == [str(i) for i in range(8)]


async def test_a_refusal_is_the_outcome_of_its_own_command_only() -> None:
    shard = FakeShard()
    caller = ShardCaller(shard, depth=1)  # type: ignore[arg-type]
    task = asyncio.create_task(caller.call(Join("a")))
    await _settle()
    shard.answer(0, SeatUnavailable("taken", seat_ids=["A-1-1"]))
    outcome = await task
    assert isinstance(outcome, SeatUnavailable)
    assert outcome.details == {"seat_ids": ["A-1-1"]}


async def test_a_failed_call_fails_its_commands_and_the_queue_goes_on() -> None:
    shard = FakeShard()
    caller = ShardCaller(shard, depth=1)  # type: ignore[arg-type]
    first = asyncio.create_task(caller.call(Join("a")))
    await _settle()
    queued = [asyncio.create_task(caller.call(Join(str(i)))) for i in range(3)]
    await _settle()
    shard.replies[0].set_exception(RuntimeError("actor died"))
    with pytest.raises(RuntimeError, match="actor died"):
        await first
    await _settle()
    assert len(shard.batches) == 2 and len(shard.batches[1]) == 3
    shard.answer(1)
    assert [r[2] for r in await asyncio.gather(*queued)] == ["0", "1", "2"]


def test_callers_follow_the_running_loop() -> None:
    shard = FakeShard()
    callers = Callers([shard])  # type: ignore[list-item]

    async def use() -> ShardCaller:
        caller = callers[0]
        task = asyncio.create_task(caller.call(Join("u")))
        await _settle()
        shard.answer(len(shard.batches) - 1)
        assert (await task)[2] == "u"
        assert callers[0] is caller
        return caller

    assert asyncio.run(use()) is not asyncio.run(use())
