"""The engine as API replicas reach it: each event's shards through the directory, opened on
first use (so any replica can bring back an event's shards), and one router per event."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg

from engine.actors.config import ShardConfig
from engine.actors.directory import EventShards, ShardDirectory
from engine.actors.router import EventQueue, EventSeats
from engine.settings import Settings
from engine.store import events_repo
from engine.store.errors import NotFound

OPEN_STATUSES = ("upcoming", "on_sale", "sold_out", "closed")


def shard_directory(settings: Settings, *, database_url: str,
                    redis_url: str) -> ShardDirectory:
    """The directory of the shards the settings describe, their stores at these URLs."""
    return ShardDirectory(
        settings.namespace,
        lambda event_id, shard: ShardConfig.from_settings(
            settings, event_id=event_id, shard=shard, database_url=database_url,
            redis_url=redis_url),
        shard_cpus=settings.shards.cpus,
    )


class RayEngine:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        assert settings.stores.database_url and settings.stores.redis_url
        self._pool = pool
        self.directory = shard_directory(settings, database_url=settings.stores.database_url,
                                         redis_url=settings.stores.redis_url)
        self._seats: dict[str, EventSeats] = {}
        self._queues: dict[str, EventQueue] = {}
        self._opening: dict[str, asyncio.Task[None]] = {}

    async def seats(self, event_id: str) -> EventSeats:
        seats = self._seats.get(event_id)
        if seats is None:
            await self._open(event_id)
            seats = self._seats[event_id]
        return seats

    async def queue(self, event_id: str) -> EventQueue:
        queue = self._queues.get(event_id)
        if queue is None:
            await self._open(event_id)
            queue = self._queues[event_id]
        return queue

    async def open_event(self, event_id: str, shard_count: int, generation: int = 0) -> None:
        shards, infos = await self.directory.open_event(event_id, shard_count, generation)
        self._seats[event_id] = EventSeats(shards, infos,
                                           on_dead=lambda: self.forget(event_id, shards))
        self._queues[event_id] = EventQueue(shards.queue)

    async def close_event(self, event_id: str, shard_count: int, generation: int = 0) -> None:
        self._seats.pop(event_id, None)
        self._queues.pop(event_id, None)
        await self.directory.close_event(event_id, shard_count, generation)

    def forget(self, event_id: str, shards: EventShards | None = None) -> None:
        """Drops the event's routers (the next request opens them anew from PostgreSQL);
        with `shards`, only if they are still the ones in use."""
        seats = self._seats.get(event_id)
        if shards is not None and (seats is None or seats.shards is not shards):
            return
        self._seats.pop(event_id, None)
        self._queues.pop(event_id, None)

    async def _open(self, event_id: str) -> None:
        """Opens an event's shards once, however many requests ask at the same time."""
        task = self._opening.get(event_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open_from_db(event_id))
            self._opening[event_id] = task
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._opening.pop(event_id, None)

    async def _open_from_db(self, event_id: str) -> None:
        try:
            uid = UUID(event_id)
        except ValueError:
            raise NotFound(f"no event {event_id}") from None
        async with self._pool.acquire() as conn:
            event = await events_repo.get_event(conn, uid)
        if event.status not in OPEN_STATUSES:
            raise NotFound(f"event {event_id} is {event.status}")
        await self.open_event(event_id, event.shard_count, event.plan_generation)
