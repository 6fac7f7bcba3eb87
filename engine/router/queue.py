"""An event's waiting room as callers use it: commands to its one queue shard, their
refusals raised, and the reads that do not go through the journal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from engine.core.commands import Complete, HeartbeatMany, Join, Leave, QueueOp
from engine.core.errors import DomainError
from engine.core.waiting_room import QueueStatus, QueueSummary
from engine.router.transport import QueueTransport

R = TypeVar("R")


class QueueRouter:
    def __init__(self, transport: QueueTransport) -> None:
        self._transport = transport

    async def command(self, cmd: QueueOp[R]) -> R:
        """One command's answer; the DomainError it was refused with is raised."""
        outcome = await self._transport.call(cmd)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def join(self, user: str) -> QueueStatus:
        return await self.command(Join(user))

    async def leave(self, user: str) -> QueueStatus:
        return await self.command(Leave(user))

    async def complete(self, user: str) -> QueueStatus:
        return await self.command(Complete(user))

    async def heartbeat_many(self, users: Sequence[str]) -> int:
        return await self.command(HeartbeatMany(tuple(users)))

    async def status(self, user: str) -> QueueStatus:
        return await self._transport.status(user)

    async def status_many(self, users: Sequence[str]) -> list[QueueStatus]:
        return await self._transport.status_many(users)

    async def summary(self) -> QueueSummary:
        return await self._transport.summary()
