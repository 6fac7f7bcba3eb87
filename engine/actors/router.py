"""Client-side access to an event's shards, as the API and the benchmarks use them:
`EventSeats` is the router's rules (`engine.router.seats`) over a transport that sends
commands to the seat shards in adaptive batches (`engine.actors.coalesce`), over each
shard's direct link (`engine.actors.link`) or through Ray, and tells its owner when a shard
has stopped for good (its plan was replaced, or the event closed)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from engine.actors.coalesce import Callers
from engine.actors.directory import EventShards, Handle
from engine.actors.errors import engine_error
from engine.actors.wire import decode_outcomes, encode_commands
from engine.core.errors import DomainError, ShardStopped
from engine.core.waiting_room import QueueStatus, QueueSummary
from engine.router.seats import SeatRouter

T = TypeVar("T")

READS = frozenset({"hold_info", "availability", "seat_states"})


def _result(outcome: Any) -> Any:
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


class RayTransport:
    """Commands to seat shard actors (batched per shard), reads by actor method."""

    def __init__(self, shards: EventShards, infos: Sequence[dict[str, Any]],
                 on_dead: Callable[[], None] | None) -> None:
        self._shards = shards.seats
        self._callers = Callers(shards.seats, infos)
        self._on_dead = on_dead

    def call(self, shard: int, command: tuple[Any, ...]) -> asyncio.Future[Any]:
        future = self._callers[shard].submit(command)
        future.add_done_callback(self._check)
        return future

    def _check(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), ShardStopped):
            self._dead()

    async def read(self, shard: int, name: str, *args: Any) -> Any:
        if name not in READS:
            raise ValueError(f"no read {name!r}")
        return await self._watch(getattr(self._shards[shard], name).remote(*args))

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


async def call_batch(handle: Handle, cmds: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Commands to one shard in one Ray call, bypassing the coalescing (the benchmarks' raw
    actor path); returns their outcomes (values or DomainErrors)."""
    # Waiting on the ref's concurrent future costs less than awaiting the ObjectRef itself.
    ref = handle.execute_packed.remote(encode_commands(cmds))
    return decode_outcomes(await asyncio.wrap_future(ref.future()))


class EventQueue:
    """The waiting room of one event, through its queue shard."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle
        self._callers = Callers([handle])

    async def _call(self, cmd: tuple[Any, ...]) -> Any:
        return await self._callers[0].call(cmd)

    async def join(self, user: str) -> QueueStatus:
        return _result(await self._call(("join", user)))  # type: ignore[no-any-return]

    async def leave(self, user: str) -> QueueStatus:
        return _result(await self._call(("leave", user)))  # type: ignore[no-any-return]

    async def complete(self, user: str) -> QueueStatus:
        return _result(await self._call(("complete", user)))  # type: ignore[no-any-return]

    async def heartbeat_many(self, users: Sequence[str]) -> int:
        return _result(  # type: ignore[no-any-return]
            await self._call(("heartbeat_many", list(users))))

    async def command(self, cmd: tuple[Any, ...]) -> Any:
        return _result(await self._call(cmd))

    async def status(self, user: str) -> QueueStatus:
        return await _read(self._handle.status.remote(user))

    async def status_many(self, users: Sequence[str]) -> list[QueueStatus]:
        return await _read(self._handle.status_many.remote(list(users)))

    async def summary(self) -> QueueSummary:
        return await _read(self._handle.summary.remote())


async def _read(pending: Awaitable[T]) -> T:
    try:
        return await pending
    except Exception as exc:
        raise engine_error(exc) from None
