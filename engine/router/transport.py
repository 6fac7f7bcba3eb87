"""The ports through which the routers reach an event's seat shards and its queue shard."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, TypeVar

from engine.core.commands import QueueOp, SeatOp
from engine.core.errors import DomainError
from engine.core.inventory import HoldView
from engine.core.waiting_room import QueueStatus, QueueSummary

R = TypeVar("R")


class SeatTransport(Protocol):
    def call(self, shard: int, command: SeatOp[R]) -> Awaitable[R | DomainError]:
        """Applies one command on a shard once it is durable; returns its outcome, a value or
        the DomainError it was refused with. Raises ShardUnavailable when the shard cannot be
        reached (the command may or may not have been applied: retry it with the same key),
        ShardStopped when it has stopped for good."""
        ...

    async def hold_info(self, shard: int, hold_id: str) -> HoldView | DomainError:
        """A hold (part) as the shard's durable state has it."""
        ...

    async def availability(self, shard: int) -> dict[str, Any]:
        """Counts per section and grade and per ticket type."""
        ...

    async def seat_states(self, shard: int) -> tuple[list[str], bytes]:
        """Seat ids and one status byte per seat (0 available, 1 held, 2 sold)."""
        ...


class QueueTransport(Protocol):
    def call(self, command: QueueOp[R]) -> Awaitable[R | DomainError]:
        """Applies one command on the event's queue shard once it is durable (see
        `SeatTransport.call`)."""
        ...

    async def status(self, user: str) -> QueueStatus: ...

    async def status_many(self, users: Sequence[str]) -> list[QueueStatus]: ...

    async def summary(self) -> QueueSummary: ...
