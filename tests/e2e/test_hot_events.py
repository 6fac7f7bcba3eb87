"""A hot upcoming sale on real Ray: its line outgrows its one seat shard before the sale
opens, and the engine re-plans its seats over more shards, keeping every place in line; the
API's replicas follow the new plan."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
import ray
import redis.asyncio as aioredis

from engine.actors.config import ShardConfig
from engine.actors.directory import seat_actor_name
from engine.audit.command import run_audit
from engine.core.venue import Section, Venue
from engine.provision import create_event
from engine.serve.autoscaling import line_summaries
from engine.serve.gateway import RayEngine
from engine.serve.hot_events import widen_hot_events
from engine.store import events_repo
from engine.store.journal import ShardJournal
from engine.store.records import EventRecord
from tests.e2e.conftest import Engine
from tests.unit.helpers import row

LINE = 30


def four_sections() -> Venue:
    return Venue("Hot Hall", tuple(
        Section(name, f"Section {name}", (row(name, "1", 4, y=5.0 + k),))
        for k, name in enumerate("ABCD")))


async def _upcoming(pool: asyncpg.Pool, venue: Venue, shard_count: int) -> EventRecord:
    """An event whose sale opens in ten minutes: far enough to be re-planned."""
    async with pool.acquire() as conn:
        return await create_event(
            conn, title="Hot", venue=venue, category="concert",
            starts_at=datetime.now(UTC) + timedelta(days=3),
            sale_opens_at=datetime.now(UTC) + timedelta(minutes=10), shard_count=shard_count)


async def _seat_map_status(api: str, event_id: str) -> str:
    async with httpx.AsyncClient(base_url=api, timeout=10) as http:
        r = await http.get(f"/api/v1/seats/events/{event_id}", params={"view": "status"})
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def test_a_hot_upcoming_sale_is_replanned_over_more_seat_shards(
    engine: Engine, api: str
) -> None:
    venue = four_sections()
    pool = await asyncpg.create_pool(engine.database_url, min_size=1, max_size=4)
    redis = aioredis.Redis.from_url(engine.redis_url)
    ns = engine.settings.namespace
    try:
        record = await _upcoming(pool, venue, shard_count=1)
        event_id = str(record.id)
        gateway = RayEngine(engine.settings, pool)
        queue = await gateway.queue(event_id)
        for n in range(LINE):
            await queue.join(f"hot-user-{n}")
        assert await _seat_map_status(api, event_id) == "0" * venue.capacity
        for _ in range(40):  # the queue shard publishes its summary a few times a second
            (summary,) = await line_summaries(redis, ns, [event_id])
            if summary is not None and summary.prequeue == LINE:
                break
            await asyncio.sleep(0.25)
        settings = replace(engine.settings, hot_events=replace(
            engine.settings.hot_events, users_per_seat_shard=10, max_seat_shards=8))

        widened = await widen_hot_events(pool, redis, gateway, settings)

        assert [(str(e.id), e.shard_count, e.plan_generation) for e in widened] == [
            (event_id, 3, 1)]
        with pytest.raises(ValueError, match="Failed to look up actor"):
            ray.get_actor(seat_actor_name(event_id, 0), namespace=ns)
        old = ShardJournal(redis, ns, ShardConfig(event_id, 0, None, None).seat_journal)
        assert not await redis.exists(old.journal_key, old.snapshot_key, old.epoch_key)
        seats = await gateway.seats(event_id)
        assert seats.shard_count == 3 and seats.shards.generation == 1
        totals = (await seats.availability())["totals"]
        assert totals["available"] == totals["capacity"] == venue.capacity
        assert (await (await gateway.queue(event_id)).summary()).prequeue == LINE, \
            "every place in line is kept"
        assert await widen_hot_events(pool, redis, gateway, settings) == []

        # The Event service's replica still routes to the retired plan until it meets a
        # stopped shard; then it opens the new one.
        await seats.hold("organiser", ["D-1-1"], "hot-k1")
        seen = ""
        for _ in range(60):
            seen = await _seat_map_status(api, event_id)
            if "1" in seen:
                break
            await asyncio.sleep(0.5)
        assert seen.count("1") == 1 and len(seen) == venue.capacity

        result = await run_audit(engine.database_url, engine.redis_url, ns, uuid.UUID(event_id))
        assert result.ok, result.violations
    finally:
        await redis.aclose()
        await pool.close()


async def test_a_replan_cut_off_after_its_commit_is_finished_by_the_next_opening(
    engine: Engine
) -> None:
    """The re-planner's process dies after PostgreSQL took the new plan, before it stopped
    the old shards: whoever opens the event next stops them."""
    venue = four_sections()
    pool = await asyncpg.create_pool(engine.database_url, min_size=1, max_size=2)
    ns = engine.settings.namespace
    try:
        record = await _upcoming(pool, venue, shard_count=2)
        event_id = str(record.id)
        await RayEngine(engine.settings, pool).seats(event_id)
        old = [ray.get_actor(seat_actor_name(event_id, k), namespace=ns) for k in range(2)]
        async with pool.acquire() as conn, conn.transaction():
            locked = await events_repo.lock_for_replan(conn, record.id, lead_s=30)
            await events_repo.write_seat_plan(conn, locked, venue, 4)

        seats = await RayEngine(engine.settings, pool).seats(event_id)

        assert (seats.shard_count, seats.shards.generation) == (4, 1)
        for handle in old:
            with pytest.raises(ray.exceptions.ActorDiedError):
                await handle.ready.remote()
        totals = (await seats.availability())["totals"]
        assert totals["available"] == venue.capacity
    finally:
        await pool.close()
