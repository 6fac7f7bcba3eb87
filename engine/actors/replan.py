"""Widening an upcoming sale's seat plan over more shards (hot events).

In one PostgreSQL transaction, with the event's row locked: the event must be upcoming,
its sale far enough away and never reserved, and its running seat shards must hold nothing;
then the sections are split anew as the next plan generation. After the commit, the old
generation's shards are stopped for good, their journals deleted, and the new ones started.
A crash after the commit leaves the old plan's shards running, but nobody routes to them any
more (replicas open the event from PostgreSQL, and a router that meets a stopped shard reopens
it), and the next opening of the event stops them; their journals stay in Redis, unread."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import asyncpg

from engine.actors.directory import ShardDirectory
from engine.store import events_repo
from engine.store.events_repo import NotReplannable
from engine.store.journal import ShardJournal
from engine.store.records import EventRecord
from engine.store.redis_client import RedisClient

log = logging.getLogger(__name__)


async def widen_seat_plan(pool: asyncpg.Pool, directory: ShardDirectory, redis: RedisClient,
                          event_id: UUID, shard_count: int, *,
                          lead_s: float) -> EventRecord | None:
    """Re-plans the event over `shard_count` seat shards; None if it already has as many.
    Raises NotReplannable when the plan may not change now."""
    async with pool.acquire() as conn, conn.transaction():
        event = await events_repo.lock_for_replan(conn, event_id, lead_s=lead_s)
        if shard_count <= event.shard_count:
            return None
        venue = await events_repo.load_venue(conn, event_id)
        units = len(venue.sections) + len(venue.ticket_types)
        if shard_count > units:
            raise NotReplannable(f"event {event_id} has {units} sections and ticket types; "
                                 f"they cannot fill {shard_count} shards")
        await _refuse_unless_empty(directory, event)
        widened = await events_repo.write_seat_plan(conn, event, venue, shard_count)
    journals = await directory.retire_seats(str(event_id), event.plan_generation,
                                            event.shard_count)
    for name in journals:
        await redis.delete(*ShardJournal(redis, directory.namespace, name).keys)
    await directory.open_event(str(event_id), widened.shard_count, widened.plan_generation)
    log.warning("event %s re-planned from %d to %d seat shards (plan generation %d)",
                event_id, event.shard_count, widened.shard_count, widened.plan_generation)
    return widened


async def _refuse_unless_empty(directory: ShardDirectory, event: EventRecord) -> None:
    try:
        shards = directory.find_event(str(event.id), event.shard_count, event.plan_generation)
    except ValueError:
        return  # not running: nothing was held since its journals were last read
    totals: list[dict[str, int]] = await asyncio.gather(
        *(s.totals.remote() for s in shards.seats))
    if any(t["held"] or t["sold"] or t["holds"] for t in totals):
        raise NotReplannable(f"event {event.id} already has seats held or sold")
