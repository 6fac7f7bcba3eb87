"""Keeps events' sold-out status true to their shards. Seat shards publish `SoldOut` and
`BackOnSale` events (scope "*": nothing left to hold, or something again) to their Redis
streams; Event replicas read them through one consumer group, so each is handled once. On
either, the event's availability over all its shards decides its status in PostgreSQL, and
the catalogue cache is invalidated when it changes.

Each stream has its shard's hash tag (it is written in the journal's script), so on a Redis
Cluster one XREADGROUP cannot read them all: the streams are read per hash slot, without
blocking (the loop's pause paces them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, cast
from uuid import UUID

from redis.exceptions import ResponseError

from api.cache import CatalogCache
from api.context import ApiContext
from engine.actors.config import ShardConfig
from engine.background import BackgroundJob, Backoff
from engine.store import catalog_repo, events_repo, outbox_repo
from engine.store.journal import journal_key, unpack
from engine.store.redis_client import REDIS_ERRORS, same_slot_groups

log = logging.getLogger(__name__)

GROUP = "catalog"
Replies = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
SCAN_EVERY_S = 2.0
READ_CONCURRENCY = 8  # slots read at once, when the streams span several (a cluster)
_TROUBLE: tuple[type[Exception], ...] = (*REDIS_ERRORS, OSError)


def events_stream(namespace: str, event_id: str, shard: int, generation: int = 0) -> str:
    """The stream of a seat shard's domain events (its journal's `events` key)."""
    journal = ShardConfig(event_id, shard, None, None, generation=generation).seat_journal
    return journal_key(namespace, journal, "events")


class SoldOutWatcher:
    def __init__(self, ctx: ApiContext, cache: CatalogCache) -> None:
        self._ctx = ctx
        self._cache = cache
        self._consumer = f"replica-{uuid.uuid4().hex[:12]}"
        self._streams: dict[str, str] = {}  # stream key -> event id
        self._job = BackgroundJob("sold-out watcher", self._scan, every_s=SCAN_EVERY_S,
                                  wait_first=False, backoff=Backoff.constant(SCAN_EVERY_S),
                                  quiet=_TROUBLE, logger=log)

    async def start(self) -> None:
        self._job.start()

    async def close(self) -> None:
        await self._job.stop()

    async def _scan(self) -> None:
        await self._discover()
        await self._read()

    async def _discover(self) -> None:
        async with self._ctx.db.acquire() as conn:
            rows, _ = await catalog_repo.search_events(conn, catalog_repo.EventFilter(
                statuses=("upcoming", "on_sale", "sold_out"), page_size=100))
        for event, _ in rows:
            for shard in range(event.shard_count):
                key = events_stream(self._ctx.settings.namespace, str(event.id), shard,
                                    event.plan_generation)
                if key in self._streams:
                    continue
                # From the stream's start: what happened before discovery counts too (a
                # recheck is idempotent). BUSYGROUP means another replica created it.
                with contextlib.suppress(ResponseError):
                    await self._ctx.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
                self._streams[key] = str(event.id)

    async def _read(self) -> None:
        if not self._streams:
            return
        groups = same_slot_groups(self._ctx.redis, self._streams)
        if len(groups) == 1:
            replies = await self._read_group(groups[0], block_ms=1000)
        else:
            gate = asyncio.Semaphore(READ_CONCURRENCY)

            async def read(keys: list[str]) -> Replies:
                async with gate:
                    return await self._read_group(keys, block_ms=None)

            replies = [r for rs in await asyncio.gather(*map(read, groups)) for r in rs]
        touched: set[str] = set()
        for key, messages in replies:
            stream = key.decode() if isinstance(key, bytes) else key
            ids = []
            for message_id, fields in messages:
                ids.append(message_id)
                if _availability_changed(fields):
                    touched.add(self._streams[stream])
            if ids:
                await self._ctx.redis.xack(stream, GROUP, *ids)
        for event_id in touched:
            await self.recheck(event_id)

    async def _read_group(self, keys: list[str], *, block_ms: int | None) -> Replies:
        """New messages of streams in one hash slot."""
        replies = cast(Replies, await self._ctx.redis.xreadgroup(
            GROUP, self._consumer, dict.fromkeys(keys, ">"), count=500, block=block_ms))
        return replies or []

    async def recheck(self, event_id: str) -> None:
        seats = await self._ctx.engine.seats(event_id)
        totals = (await seats.availability())["totals"]
        async with self._ctx.db.acquire() as conn:
            event = await events_repo.get_event(conn, UUID(event_id))
            wanted = "sold_out" if totals["available"] == 0 else "upcoming"
            if event.status in ("upcoming", "on_sale", "sold_out") and (
                    (event.status == "sold_out") != (wanted == "sold_out")):
                async with conn.transaction():
                    await events_repo.set_event_status(conn, event.id, wanted)
                    if wanted == "sold_out":
                        await outbox_repo.emit(
                            conn, "TicketSoldOut", aggregate_type="event",
                            aggregate_id=event_id,
                            payload={"event_id": event_id, "sold": totals.get("sold", 0)})
                await self._cache.invalidate()
                log.info("event %s is now %s", event_id, wanted)


def _availability_changed(fields: dict[Any, Any]) -> bool:
    raw = fields.get(b"d") or fields.get("d")
    if raw is None:
        return False
    for kind, event in unpack(raw):
        if kind in ("SoldOut", "BackOnSale") and event[-1] == "*":
            return True
    return False
