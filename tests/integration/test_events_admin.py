"""Event administration (`engine.saga.events_admin`) on the real PostgreSQL, its shards behind
the `Shards` port in this process: creating an event starts its shards, new sale settings
reach the running ones, a schedule out of order changes nothing, and an event with holds or
reservations is never deleted; every change invalidates the catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from engine.core.commands import QueueOp, SetQueuePolicy
from engine.core.inventory import HoldPolicy
from engine.core.waiting_room import QueueSummary
from engine.router.seats import SeatRouter
from engine.saga.errors import Kind, Refused
from engine.saga.events_admin import EventAdmin, EventChanges
from engine.store import catalog_repo, reservations_repo
from engine.store.errors import NotFound
from engine.store.pool import create_pool
from engine.store.records import ItemSpec, SaleSettings
from tests.sales import new_user
from tests.unit.helpers import small_venue
from tests.unit.local_shards import LocalSeatShards

VENUE = small_venue()
NOW = datetime.now(UTC).replace(microsecond=0)


class RecordingQueue:
    def __init__(self) -> None:
        self.commands: list[QueueOp[Any]] = []

    async def command(self, cmd: QueueOp[Any]) -> Any:
        self.commands.append(cmd)

    async def summary(self) -> QueueSummary:
        raise AssertionError("not asked")


class LocalShards:
    """The `Shards` port over one event's seat shards in this process."""

    def __init__(self) -> None:
        self.local = LocalSeatShards(VENUE, 2, HoldPolicy())
        self.router: SeatRouter | None = None
        self.queue_ = RecordingQueue()
        self.opened: list[tuple[str, int, int]] = []
        self.closed: list[tuple[str, int, int]] = []

    async def seats(self, event_id: str) -> SeatRouter:
        assert self.router is not None, "the event's shards were never opened"
        return self.router

    async def queue(self, event_id: str) -> RecordingQueue:
        return self.queue_

    async def open_event(self, event_id: str, shard_count: int, generation: int = 0) -> None:
        self.opened.append((event_id, shard_count, generation))
        await self.local.start()
        self.router = SeatRouter(self.local, self.local.infos(), hint_refresh_s=0.0)

    async def close_event(self, event_id: str, shard_count: int, generation: int = 0) -> None:
        self.closed.append((event_id, shard_count, generation))

    async def close(self) -> None:
        if self.router is not None:
            await self.router.close()
            await self.local.close()


class World:
    def __init__(self, pool: asyncpg.Pool, shards: LocalShards) -> None:
        self.pool, self.shards = pool, shards
        self.catalog_changes = 0
        self.admin = EventAdmin(pool, shards, self.catalog_changed)

    async def catalog_changed(self) -> None:
        self.catalog_changes += 1

    async def create(self) -> UUID:
        view = await self.admin.create(
            title="Admin", venue=VENUE, category="concert", starts_at=NOW + timedelta(days=7),
            sale_opens_at=NOW - timedelta(hours=1), shard_count=2, settings=SaleSettings())
        return view.event.id


@pytest.fixture
async def world(database: str) -> AsyncIterator[World]:
    pool = await create_pool(database, min_size=1, max_size=4)
    shards = LocalShards()
    try:
        yield World(pool, shards)
    finally:
        await shards.close()
        await pool.close()


async def test_creating_an_event_records_it_and_starts_its_shards(world: World) -> None:
    view = await world.admin.create(
        title="Opening night", venue=VENUE, category="concert",
        starts_at=NOW + timedelta(days=7), sale_opens_at=NOW + timedelta(days=1),
        shard_count=2, settings=SaleSettings(per_user_limit=2))
    assert (view.event.title, view.status, view.venue) == ("Opening night", "upcoming", VENUE)
    assert world.shards.opened == [(str(view.event.id), 2, view.event.plan_generation)]
    assert world.catalog_changes == 1
    async with world.pool.acquire() as conn:
        stored, _ = await catalog_repo.get_event_with_status(conn, view.event.id)
    assert stored.settings.per_user_limit == 2


async def test_new_sale_settings_reach_the_running_shards(world: World) -> None:
    event_id = await world.create()
    world.shards.local.calls.clear()
    view = await world.admin.update(event_id, EventChanges(
        title="Renamed", sale=SaleSettings(per_user_limit=3, admission_rate=10.0)))
    assert (view.event.title, view.event.settings.per_user_limit) == ("Renamed", 3)
    assert sorted(world.shards.local.calls) == [(0, "set_policy"), (1, "set_policy")]
    assert all(world.shards.local.state(k).inventory.policy.user_limit == 3 for k in (0, 1))
    (command,) = world.shards.queue_.commands
    assert isinstance(command, SetQueuePolicy)
    assert (command.policy.admission_rate, command.opens_at) == (
        10.0, view.event.sale_opens_at.timestamp())
    world.shards.local.calls.clear()
    await world.admin.update(event_id, EventChanges(description="no sale change"))
    assert world.shards.local.calls == [] and len(world.shards.queue_.commands) == 1
    assert world.catalog_changes == 3


async def test_a_schedule_out_of_order_changes_nothing(world: World) -> None:
    event_id = await world.create()
    with pytest.raises(Refused) as refused:
        await world.admin.update(event_id, EventChanges(
            title="Never", sale_opens_at=NOW + timedelta(days=30)))
    assert (refused.value.code, refused.value.kind, refused.value.message) == (
        "INVALID_SCHEDULE", Kind.CONFLICT, "the sale must open before the event starts")
    async with world.pool.acquire() as conn:
        event, _ = await catalog_repo.get_event_with_status(conn, event_id)
    assert event.title == "Admin"
    assert world.catalog_changes == 1


async def test_an_event_in_use_is_not_deleted(world: World) -> None:
    event_id = await world.create()
    router = await world.shards.seats(str(event_id))
    async with world.pool.acquire() as conn:
        user = await new_user(conn, "buyer")
    view = await router.hold(user, ["A-1-1", "A-1-2"], "h")
    with pytest.raises(Refused) as held:
        await world.admin.delete(event_id)
    assert (held.value.code, held.value.details) == ("EVENT_IN_USE", {"held": 2, "sold": 0})
    await router.release(user, view.hold_id, "r")
    async with world.pool.acquire() as conn:
        await reservations_repo.create_pending(
            conn, user_id=UUID(user), event_id=event_id,
            items=[ItemSpec(shard=0, hold_id="h", price=100, seat_id="A-1-1")],
            expires_at=NOW + timedelta(minutes=10))
    with pytest.raises(Refused) as reserved:
        await world.admin.delete(event_id)
    assert (reserved.value.code, reserved.value.details) == ("EVENT_IN_USE", {})
    assert world.shards.closed == []


async def test_deleting_an_event_stops_its_shards(world: World) -> None:
    event_id = await world.create()
    await world.admin.delete(event_id)
    assert world.shards.closed == [(str(event_id), 2, 0)]
    async with world.pool.acquire() as conn:
        with pytest.raises(NotFound):
            await catalog_repo.get_event_with_status(conn, event_id)
    assert world.catalog_changes == 2
