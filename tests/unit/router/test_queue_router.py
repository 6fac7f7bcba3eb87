"""The queue router over a queue shard in this process (a `ShardHost` over an in-memory
journal, reached through the wire form): answers, refusals raised, reads, and a restart that
keeps every place in line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import pytest

from engine.actors.host import ShardHost, ShellClock
from engine.actors.wire import decode_outcomes, encode_commands, encode_outcomes
from engine.core.command_wire import decode_queue_batch, queue_commands
from engine.core.commands import CloseQueue, QueueCommand, QueueOp
from engine.core.errors import DomainError, NotAdmitted, NotInQueue, QueueClosed
from engine.core.shard_state import QueueShardState
from engine.core.waiting_room import QueuePolicy, QueueStatus, QueueSummary, WaitingRoom
from engine.router.queue import QueueRouter

from ..helpers import MemoryJournal

R = TypeVar("R")


class LocalQueueShard:
    def __init__(self) -> None:
        self.journal = MemoryJournal()
        self.host: ShardHost[QueueShardState, QueueCommand] | None = None

    async def start(self) -> None:
        clock = ShellClock()

        def room() -> QueueShardState:
            return QueueShardState(WaitingRoom(QueuePolicy(), clock, opens_at=0.0, seed="ab"))

        self.host = ShardHost(self.journal, clock, queue_commands, snapshot_every_ops=5,
                              snapshot_every_s=60.0, on_fatal=lambda exc: None)
        await self.host.start(fresh=room, blank=room)

    async def call(self, command: QueueOp[R]) -> R | DomainError:
        assert self.host is not None
        batch = decode_queue_batch(encode_commands([command]))
        return decode_outcomes(encode_outcomes(await self.host.submit(batch)))[0]

    async def status(self, user: str) -> QueueStatus:
        assert self.host is not None
        return await self.host.read(lambda s: s.room.status(user))

    async def status_many(self, users: Sequence[str]) -> list[QueueStatus]:
        assert self.host is not None
        return await self.host.read(lambda s: [s.room.status(u) for u in users])

    async def summary(self) -> QueueSummary:
        assert self.host is not None
        return await self.host.read(lambda s: s.room.summary())


async def test_places_are_kept_and_refusals_raised() -> None:
    shard = LocalQueueShard()
    await shard.start()
    queue = QueueRouter(shard)
    first = await queue.join("a")
    second = await queue.join("b")
    assert first.seq < second.seq
    assert (await queue.join("a")).seq == first.seq  # joining again keeps the place
    assert await queue.heartbeat_many(["a", "b"]) >= 0
    with pytest.raises(NotAdmitted):
        await queue.complete("nobody")
    with pytest.raises(NotInQueue):
        await queue.leave("nobody")
    statuses = await queue.status_many(["a", "b", "c"])
    assert [s.state for s in statuses][2] == "none"
    assert (await queue.status("b")).seq == second.seq

    assert shard.host is not None
    await shard.host.close()
    await shard.start()  # restarts from its journal
    assert (await queue.status("a")).seq == first.seq
    assert (await queue.status("b")).seq == second.seq
    await queue.command(CloseQueue())
    with pytest.raises(QueueClosed):
        await queue.join("c")
    assert (await queue.summary()).version >= 0
    await shard.host.close()
