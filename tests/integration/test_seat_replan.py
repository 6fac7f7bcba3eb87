"""Widening an upcoming sale's seat plan in PostgreSQL: only while it may change, and as a
new generation that splits every section and ticket type anew."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from engine.core.venue import Venue, plan_shards
from engine.store import catalog_repo, events_repo, reservations_repo
from engine.store.events_repo import NotReplannable
from engine.store.records import EventRecord, ItemSpec, NewEvent, UserRecord


async def _upcoming(conn: asyncpg.Connection, new_event: Callable[..., NewEvent],
                    venue: Venue, opens_in: timedelta, shard_count: int = 1) -> EventRecord:
    new = replace(new_event(shard_count=shard_count),
                  sale_opens_at=datetime.now(UTC) + opens_in)
    return await events_repo.create_event(conn, new, venue)


async def test_a_far_upcoming_sale_is_split_anew_as_the_next_generation(
    conn: asyncpg.Connection, new_event: Callable[..., NewEvent], small_venue: Venue
) -> None:
    event = await _upcoming(conn, new_event, small_venue, timedelta(hours=1))
    assert event.plan_generation == 0
    async with conn.transaction():
        locked = await events_repo.lock_for_replan(conn, event.id, lead_s=30)
        widened = await events_repo.write_seat_plan(conn, locked, small_venue, 3)
    assert (widened.shard_count, widened.plan_generation) == (3, 1)
    assert widened.version == event.version + 1
    assert await events_repo.shard_plan(conn, event.id) == plan_shards(small_venue, 3)
    parts = [await events_repo.load_venue(conn, event.id, shard=k) for k in range(3)]
    assert sum(p.capacity for p in parts) == small_venue.capacity
    assert all(p.capacity > 0 for p in parts)


async def test_a_sale_opening_soon_or_open_keeps_its_plan(
    conn: asyncpg.Connection, new_event: Callable[..., NewEvent], small_venue: Venue
) -> None:
    soon = await _upcoming(conn, new_event, small_venue, timedelta(seconds=10))
    with pytest.raises(NotReplannable, match="opens in less than 30 s"):
        await events_repo.lock_for_replan(conn, soon.id, lead_s=30)
    await events_repo.set_event_status(conn, soon.id, "on_sale")
    with pytest.raises(NotReplannable, match="on_sale"):
        await events_repo.lock_for_replan(conn, soon.id, lead_s=0)
    assert (await events_repo.get_event(conn, soon.id)).plan_generation == 0


async def test_a_sale_with_a_reservation_keeps_its_plan(
    conn: asyncpg.Connection, new_event: Callable[..., NewEvent], small_venue: Venue,
    user: UserRecord
) -> None:
    event = await _upcoming(conn, new_event, small_venue, timedelta(hours=1), shard_count=2)
    await reservations_repo.create_pending(
        conn, user_id=user.id, event_id=event.id,
        items=[ItemSpec(shard=0, hold_id="0.h", price=90_000, seat_id="B-1-1")],
        expires_at=datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(NotReplannable, match="reservations"):
        await events_repo.lock_for_replan(conn, event.id, lead_s=30)


async def test_the_lock_makes_a_second_replanner_wait_and_see_the_new_plan(
    database: str, new_event: Callable[..., NewEvent], small_venue: Venue
) -> None:
    first, other = await asyncpg.connect(database), await asyncpg.connect(database)
    event = await _upcoming(first, new_event, small_venue, timedelta(hours=1))
    try:
        async with first.transaction():
            locked = await events_repo.lock_for_replan(first, event.id, lead_s=30)
            async with other.transaction():
                await other.execute("SET LOCAL lock_timeout = '200ms'")
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await events_repo.lock_for_replan(other, event.id, lead_s=30)
            await events_repo.write_seat_plan(first, locked, small_venue, 2)
        async with other.transaction():
            seen = await events_repo.lock_for_replan(other, event.id, lead_s=30)
        assert (seen.shard_count, seen.plan_generation) == (2, 1)
    finally:
        await catalog_repo.delete_event(first, event.id)
        await first.close()
        await other.close()


async def test_upcoming_lines_lists_far_sales_with_their_units(
    conn: asyncpg.Connection, new_event: Callable[..., NewEvent], small_venue: Venue
) -> None:
    far = await _upcoming(conn, new_event, small_venue, timedelta(hours=1))
    soon = await _upcoming(conn, new_event, small_venue, timedelta(seconds=5))
    lines = {e.id: units for e, units in await events_repo.upcoming_lines(conn, lead_s=30)}
    assert lines.get(far.id) == len(small_venue.sections) + len(small_venue.ticket_types)
    assert soon.id not in lines
