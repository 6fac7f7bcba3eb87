"""Adaptive batching of commands to one shard.

Each call to an actor costs the caller a fixed amount of CPU (about a millisecond in an API
replica) whatever it carries, while a shard applies a batch of commands for little more than
one. So a `ShardCaller` sends a command at once while fewer than `depth` calls to its shard
are in flight, and otherwise queues it; when a call returns, everything queued goes in the
next one. An idle shard sees no added latency, and a busy one gets batches as large as the
load makes them. Outcomes come back in order, one per command; a failed call (the shard
restarting) fails every command it carried, which callers retry with the same keys."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

from engine.actors.directory import Handle
from engine.actors.errors import engine_error
from engine.actors.link import LinkClient
from engine.actors.wire import decode_outcomes, encode_commands
from engine.core.commands import QueueOp, SeatOp
from engine.core.errors import DomainError

DEPTH = 1
MAX_BATCH = 512

R = TypeVar("R")
Pending = tuple[Any, "asyncio.Future[Any]"]


class ShardCaller:
    def __init__(self, handle: Handle, *, depth: int = DEPTH, max_batch: int = MAX_BATCH,
                 link: LinkClient | None = None) -> None:
        """Batches go over `link` (the shard's direct link) when given, else through Ray."""
        self._handle = handle
        self._link = link
        self._depth = depth
        self._max_batch = max_batch
        self._queued: list[Pending] = []
        self._in_flight = 0
        self.calls = 0

    async def call(self, cmd: SeatOp[R] | QueueOp[R]) -> R | DomainError:
        return await self.submit(cmd)

    def submit(self, cmd: SeatOp[R] | QueueOp[R]) -> asyncio.Future[R | DomainError]:
        """The command's outcome, as a future (no task of its own)."""
        future: asyncio.Future[R | DomainError] = asyncio.get_running_loop().create_future()
        self._queued.append((cmd, future))
        if self._in_flight < self._depth:
            self._send()
        return future

    def _send(self) -> None:
        batch = self._queued[:self._max_batch]
        del self._queued[:self._max_batch]
        self._in_flight += 1
        self.calls += 1
        try:
            payload = encode_commands([c for c, _ in batch])
            if self._link is not None:
                reply: asyncio.Future[Any] = asyncio.ensure_future(self._link.send(payload))
            else:
                reply = asyncio.wrap_future(self._handle.execute_packed.remote(payload).future())
        except Exception as exc:
            self._in_flight -= 1
            _fail(batch, exc)
            return
        reply.add_done_callback(lambda done: self._returned(done, batch))

    def _returned(self, done: asyncio.Future[Any], batch: list[Pending]) -> None:
        self._in_flight -= 1
        try:
            outcomes = decode_outcomes(done.result())
        except BaseException as exc:
            _fail(batch, exc)
        else:
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
        while self._queued and self._in_flight < self._depth:
            self._send()


def _fail(batch: Sequence[Pending], exc: BaseException) -> None:
    exc = engine_error(exc)
    for _, future in batch:
        if not future.done():
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)


class Callers:
    """One `ShardCaller` per shard, made for the running event loop (futures belong to one
    loop; tests and tools may use a router from several loops in turn). A shard whose
    `ready()` info (`infos`) names a direct link is called over it."""

    def __init__(self, handles: Sequence[Handle],
                 infos: Sequence[dict[str, Any]] | None = None) -> None:
        self._handles = list(handles)
        self._infos = list(infos) if infos is not None else [{} for _ in handles]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callers: list[ShardCaller] = []

    def __getitem__(self, k: int) -> ShardCaller:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._callers = [ShardCaller(h, link=_link(h, info))
                             for h, info in zip(self._handles, self._infos, strict=True)]
        return self._callers[k]


def _link(handle: Handle, info: dict[str, Any]) -> LinkClient | None:
    if "link" not in info:
        return None

    async def resolve() -> dict[str, Any]:
        found: dict[str, Any] = await handle.ready.remote()
        return found

    return LinkClient(resolve, info)
