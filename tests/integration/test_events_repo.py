from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

import asyncpg
import pytest

from engine.core.stadium import build_stadium
from engine.core.venue import Venue, plan_shards
from engine.store import events_repo
from engine.store.errors import Conflict, NotFound
from engine.store.records import EventRecord, NewEvent, SaleSettings


def shard_subset(venue: Venue, plan: dict[str, int], shard: int) -> Venue:
    return venue.subset(
        [s.id for s in venue.sections if plan[s.id] == shard],
        [t.id for t in venue.ticket_types if plan[t.id] == shard],
    )


async def test_create_event_records_the_event(
    conn: asyncpg.Connection, event: EventRecord, small_venue: Venue
) -> None:
    assert event.title == "Concert"
    assert event.status == "upcoming"
    assert event.settings == SaleSettings()
    assert event.settings.hold_policy().user_limit == 4
    assert (event.seat_count, event.ga_quantity) == (small_venue.seat_count, 13)
    assert (event.shard_count, event.queue_seed_hash, event.queue_seed) == (2, "c0ffee", "seed")
    assert event.version == 1
    assert await events_repo.get_event(conn, event.id) == event


async def test_small_venue_round_trips_whole_and_by_shard(
    conn: asyncpg.Connection, event: EventRecord, small_venue: Venue
) -> None:
    assert await events_repo.load_venue(conn, event.id) == small_venue
    plan = await events_repo.shard_plan(conn, event.id)
    assert plan == plan_shards(small_venue, 2)
    for shard in range(2):
        part = await events_repo.load_venue(conn, event.id, shard=shard)
        assert part == shard_subset(small_venue, plan, shard)
        assert part.capacity > 0
    with pytest.raises(NotFound):
        await events_repo.load_venue(conn, event.id, shard=2)


async def test_stadium_round_trips(
    conn: asyncpg.Connection, new_event: Callable[..., NewEvent]
) -> None:
    stadium = build_stadium()
    assert stadium.seat_count == 47_400
    new = replace(new_event("Stadium", shard_count=4), venue_name=stadium.name)
    event = await events_repo.create_event(conn, new, stadium)
    assert event.seat_count == 47_400
    assert await conn.fetchval("SELECT count(*) FROM seats WHERE event_id = $1", event.id) == 47_400
    loaded = await events_repo.load_venue(conn, event.id)
    assert loaded == stadium
    assert [s.id for s in loaded.seats()] == [s.id for s in stadium.seats()]
    plan = await events_repo.shard_plan(conn, event.id)
    assert plan == plan_shards(stadium, 4)
    part = await events_repo.load_venue(conn, event.id, shard=3)
    assert part == shard_subset(stadium, plan, 3)


async def test_slug_lookup_and_uniqueness(
    conn: asyncpg.Connection, small_venue: Venue, new_event: Callable[..., NewEvent]
) -> None:
    event = await events_repo.create_event(conn, new_event(slug="spring-live"), small_venue)
    assert await events_repo.find_event_by_slug(conn, "spring-live") == event
    assert await events_repo.find_event_by_slug(conn, "missing") is None
    with pytest.raises(Conflict):
        await events_repo.create_event(conn, new_event("Again", slug="spring-live"), small_venue)
    assert await conn.fetchval("SELECT count(*) FROM events WHERE title = 'Again'") == 0


async def test_set_event_status(conn: asyncpg.Connection, event: EventRecord) -> None:
    await events_repo.set_event_status(conn, event.id, "on_sale")
    updated = await events_repo.get_event(conn, event.id)
    assert (updated.status, updated.version) == ("on_sale", 2)
    with pytest.raises(ValueError, match="status"):
        await events_repo.set_event_status(conn, event.id, "open")
    with pytest.raises(NotFound):
        await events_repo.set_event_status(conn, uuid.uuid4(), "closed")


async def test_venue_name_must_match(
    conn: asyncpg.Connection, small_venue: Venue, new_event: Callable[..., NewEvent]
) -> None:
    with pytest.raises(ValueError, match="venue_name"):
        await events_repo.create_event(
            conn, replace(new_event(), venue_name="Elsewhere"), small_venue
        )


async def test_unknown_event(conn: asyncpg.Connection) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound):
        await events_repo.get_event(conn, missing)
    with pytest.raises(NotFound):
        await events_repo.load_venue(conn, missing)
    with pytest.raises(NotFound):
        await events_repo.shard_plan(conn, missing)
