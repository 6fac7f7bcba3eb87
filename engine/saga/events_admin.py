"""Administering events: creating one starts its shards, changing its sale settings sends
them to its running shards, deleting one stops them. An event with holds, sales or open
reservations is never deleted, a schedule is always in order (the sale opens before the
event starts, and closes after it opens), and every change invalidates the catalogue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar
from uuid import UUID

import asyncpg

from engine.core.commands import QueueOp, SeatOp, SetHoldPolicy, SetQueuePolicy
from engine.core.venue import Venue
from engine.core.waiting_room import QueueSummary
from engine.provision import create_event
from engine.saga.errors import Refused
from engine.store import catalog_repo, events_repo
from engine.store.records import EventRecord, SaleSettings

R = TypeVar("R")

LIVE = ("upcoming", "on_sale", "sold_out")
"""The statuses of an event whose shards run."""


class Seats(Protocol):
    """An event's seats (`engine.router.seats.SeatRouter`), as administration uses them."""

    async def broadcast(self, command: SeatOp[R]) -> list[R]: ...

    async def availability(self) -> dict[str, Any]: ...


class Queue(Protocol):
    """An event's waiting room (`engine.actors.router.EventQueue`), as administration uses
    it."""

    async def command(self, cmd: QueueOp[R]) -> R: ...

    async def summary(self) -> QueueSummary: ...


class Shards(Protocol):
    """The engine's shards of each event (`engine.serve.gateway.RayEngine`)."""

    async def seats(self, event_id: str) -> Seats: ...

    async def queue(self, event_id: str) -> Queue: ...

    async def open_event(self, event_id: str, shard_count: int,
                         generation: int = 0) -> None: ...

    async def close_event(self, event_id: str, shard_count: int,
                          generation: int = 0) -> None: ...


class EventView(NamedTuple):
    event: EventRecord
    status: str  # effective: on_sale, sold_out... as the catalogue shows it
    venue: Venue


@dataclass(frozen=True)
class EventChanges:
    """What an edit sets; None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    category: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    sale_opens_at: datetime | None = None
    sale_closes_at: datetime | None = None
    status: str | None = None
    sale: SaleSettings | None = None

    def columns(self) -> dict[str, Any]:
        changes = {name: value for name, value in asdict(self).items()
                   if value is not None and name != "sale"}
        if self.sale is not None:
            changes.update(asdict(self.sale))
        return changes


def check_schedule(starts: datetime, ends: datetime | None, opens: datetime,
                   closes: datetime | None) -> None:
    """Raises ValueError, saying why, unless the times are in order and have a timezone."""
    for value in (starts, ends, opens, closes):
        if value is not None and value.tzinfo is None:
            raise ValueError("times need a timezone (e.g. 2030-05-01T19:00:00+09:00)")
    if ends is not None and ends < starts:
        raise ValueError("endsAt is before startsAt")
    if opens > starts:
        raise ValueError("the sale must open before the event starts")
    if closes is not None and closes <= opens:
        raise ValueError("saleClosesAt must be after saleOpensAt")


class EventAdmin:
    """`catalog_changed` is told after every change (the catalogue caches drop what they
    hold)."""

    def __init__(self, pool: asyncpg.Pool, shards: Shards,
                 catalog_changed: Callable[[], Awaitable[None]]) -> None:
        self._pool = pool
        self._shards = shards
        self._catalog_changed = catalog_changed

    async def create(self, *, title: str, venue: Venue, category: str, starts_at: datetime,
                     sale_opens_at: datetime, shard_count: int, settings: SaleSettings,
                     slug: str | None = None, description: str = "",
                     ends_at: datetime | None = None,
                     sale_closes_at: datetime | None = None) -> EventView:
        """Records the event with its layout, then starts its shards."""
        async with self._pool.acquire() as conn:
            event = await create_event(
                conn, title=title, venue=venue, category=category, starts_at=starts_at,
                sale_opens_at=sale_opens_at, ends_at=ends_at, sale_closes_at=sale_closes_at,
                shard_count=shard_count, settings=settings, slug=slug,
                description=description)
            event, status = await catalog_repo.get_event_with_status(conn, event.id)
        await self._shards.open_event(str(event.id), event.shard_count, event.plan_generation)
        await self._catalog_changed()
        return EventView(event, status, venue)

    async def update(self, event_id: UUID, changes: EventChanges) -> EventView:
        """Applies the changes; new sale settings (or a new opening time) reach the running
        shards, journaled there like any command (a shard that is down reads them from
        PostgreSQL when it restarts)."""
        columns = changes.columns()
        async with self._pool.acquire() as conn:
            current, _ = await catalog_repo.get_event_with_status(conn, event_id)
            try:
                check_schedule(columns.get("starts_at", current.starts_at),
                               columns.get("ends_at", current.ends_at),
                               columns.get("sale_opens_at", current.sale_opens_at),
                               columns.get("sale_closes_at", current.sale_closes_at))
            except ValueError as exc:
                raise Refused("INVALID_SCHEDULE", str(exc)) from None
            await catalog_repo.update_event(conn, event_id, columns)
            event, status = await catalog_repo.get_event_with_status(conn, event_id)
            venue = await events_repo.load_venue(conn, event_id)
        if (changes.sale is not None or changes.sale_opens_at is not None) and status in LIVE:
            await self._push_policies(event)
        await self._catalog_changed()
        return EventView(event, status, venue)

    async def _push_policies(self, event: EventRecord) -> None:
        seats = await self._shards.seats(str(event.id))
        queue = await self._shards.queue(str(event.id))
        await seats.broadcast(SetHoldPolicy(event.settings.hold_policy()))
        await queue.command(SetQueuePolicy(event.settings.queue_policy(),
                                           event.sale_opens_at.timestamp()))

    async def delete(self, event_id: UUID) -> None:
        """Stops the event's shards and deletes it; refused while it has holds, sales or a
        pending or confirmed reservation."""
        async with self._pool.acquire() as conn:
            event, status = await catalog_repo.get_event_with_status(conn, event_id)
        if status in LIVE:
            seats = await self._shards.seats(str(event_id))
            totals = (await seats.availability())["totals"]
            if totals["held"] or totals["sold"]:
                raise Refused("EVENT_IN_USE", "the event has holds or sales",
                              details={"held": totals["held"], "sold": totals["sold"]})
        async with self._pool.acquire() as conn:
            if await catalog_repo.has_reservations(conn, event_id):
                raise Refused("EVENT_IN_USE", "the event has pending or confirmed reservations")
            await self._shards.close_event(str(event_id), event.shard_count,
                                           event.plan_generation)
            await catalog_repo.delete_event(conn, event_id)
        await self._catalog_changed()
