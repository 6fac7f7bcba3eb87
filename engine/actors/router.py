"""The routers over Ray, as the API and the benchmarks use them: `EventSeats` is the seat
router's rules (`engine.router.seats`) over a transport that sends commands to the seat
shards in adaptive batches (`engine.actors.coalesce`), over each shard's direct link
(`engine.actors.link`) or through Ray, and tells its owner when a shard has stopped for good
(its plan was replaced, or the event closed); `EventQueue` is the queue router over its
queue shard actor. Ray's errors reach callers as the engine's own (`engine.actors.errors`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from engine.actors.coalesce import Callers
from engine.actors.directory import EventShards, Handle
from engine.actors.errors import engine_error
from engine.actors.wire import decode_outcomes, encode_commands
from engine.core.commands import QueueCommand, QueueOp, SeatCommand, SeatOp
from engine.core.errors import DomainError, ShardStopped
from engine.core.inventory import HoldView
from engine.core.waiting_room import QueueStatus, QueueSummary
from engine.router.queue import QueueRouter
from engine.router.seats import SeatRouter

T = TypeVar("T")
R = TypeVar("R")


class RayTransport:
    """Commands to seat shard actors (batched per shard), reads by actor method."""

    def __init__(self, shards: EventShards, infos: Sequence[dict[str, Any]],
                 on_dead: Callable[[], None] | None) -> None:
        self._shards = shards.seats
        self._callers = Callers(shards.seats, infos)
        self._on_dead = on_dead

    def call(self, shard: int, command: SeatOp[R]) -> asyncio.Future[R | DomainError]:
        future = self._callers[shard].submit(command)
        future.add_done_callback(self._check)
        return future

    def _check(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), ShardStopped):
            self._dead()

    async def hold_info(self, shard: int, hold_id: str) -> HoldView | DomainError:
        return await self._watch(self._shards[shard].hold_info.remote(hold_id))

    async def availability(self, shard: int) -> dict[str, Any]:
        return await self._watch(self._shards[shard].availability.remote())

    async def seat_states(self, shard: int) -> tuple[list[str], bytes]:
        return await self._watch(self._shards[shard].seat_states.remote())

    async def _watch(self, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except Exception as exc:
            error = engine_error(exc)
            if isinstance(error, ShardStopped):
                self._dead()
            raise error from None

    def _dead(self) -> None:
        if self._on_dead is not None:
            self._on_dead()


class EventSeats(SeatRouter):
    def __init__(self, shards: EventShards, infos: Sequence[dict[str, Any]],
                 on_dead: Callable[[], None] | None = None) -> None:
        """`infos` are what each seat shard's `ready()` reported, in shard order. `on_dead`
        is told when a shard has stopped for good, so the owner can open the event's current
        shards."""
        super().__init__(RayTransport(shards, infos, on_dead), infos)
        self.event_id = shards.event_id
        self.shards = shards


async def call_batch(handle: Handle, cmds: Sequence[SeatCommand | QueueCommand]) -> list[Any]:
    """Commands to one shard in one Ray call, bypassing the coalescing (the benchmarks' raw
    actor path); returns their outcomes (values or DomainErrors)."""
    # Waiting on the ref's concurrent future costs less than awaiting the ObjectRef itself.
    ref = handle.execute_packed.remote(encode_commands(cmds))
    try:
        return decode_outcomes(await asyncio.wrap_future(ref.future()))
    except Exception as exc:
        raise engine_error(exc) from None


class RayQueueTransport:
    """Commands to a queue shard actor (batched), reads by actor method."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle
        self._callers = Callers([handle])

    def call(self, command: QueueOp[R]) -> asyncio.Future[R | DomainError]:
        return self._callers[0].submit(command)

    async def status(self, user: str) -> QueueStatus:
        return await _read(self._handle.status.remote(user))

    async def status_many(self, users: Sequence[str]) -> list[QueueStatus]:
        return await _read(self._handle.status_many.remote(list(users)))

    async def summary(self) -> QueueSummary:
        return await _read(self._handle.summary.remote())


class EventQueue(QueueRouter):
    """The waiting room of one event, through its queue shard actor."""

    def __init__(self, handle: Handle) -> None:
        super().__init__(RayQueueTransport(handle))


async def _read(pending: Awaitable[T]) -> T:
    try:
        return await pending
    except Exception as exc:
        raise engine_error(exc) from None
