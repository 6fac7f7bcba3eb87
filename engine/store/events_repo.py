"""Events and their venue layout (sections, seats, ticket types) with the shard plan."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from engine.core.venue import Row, Seat, Section, TicketType, Venue, plan_shards
from engine.store.errors import Conflict, NotFound
from engine.store.queries import load_queries
from engine.store.records import EVENT_STATUSES, EventRecord, NewEvent, SaleSettings

SQL = load_queries("engine.store", "events.sql")

_SEAT_COLUMNS = (
    "event_id", "seat_id", "section_id", "row_label", "row_ordinal", "number", "seat_ordinal",
    "grade", "price", "x", "y",
)
_SETTINGS_COLUMNS = (
    "hold_ttl_s", "hold_extension_s", "hold_max_extensions", "hold_max_lifetime_s",
    "per_user_limit", "admission_rate", "active_cap", "heartbeat_timeout_s", "session_ttl_s",
)

async def create_event(conn: asyncpg.Connection, new: NewEvent, venue: Venue) -> EventRecord:
    if new.status not in EVENT_STATUSES:
        raise ValueError(f"unknown event status {new.status!r}")
    if new.venue_name != venue.name:
        raise ValueError(f"venue_name {new.venue_name!r} is not the venue's name {venue.name!r}")
    plan = plan_shards(venue, new.shard_count)
    s = new.settings
    async with conn.transaction():
        try:
            row = await SQL.insert_event.fetchrow(
                conn, slug=new.slug, title=new.title, description=new.description,
                category=new.category, venue_name=new.venue_name, venue_focal_x=venue.focal_x,
                venue_focal_y=venue.focal_y, starts_at=new.starts_at, ends_at=new.ends_at,
                sale_opens_at=new.sale_opens_at, sale_closes_at=new.sale_closes_at,
                status=new.status, **{name: getattr(s, name) for name in _SETTINGS_COLUMNS},
                shard_count=new.shard_count, seat_count=venue.seat_count,
                ga_quantity=venue.ga_quantity, queue_seed_hash=new.queue_seed_hash,
                queue_seed=new.queue_seed,
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"an event with slug {new.slug!r} exists") from exc
        assert row is not None
        event_id = row["id"]
        await conn.copy_records_to_table(
            "event_sections",
            records=[
                (event_id, section.id, section.name, ordinal, plan[section.id])
                for ordinal, section in enumerate(venue.sections)
            ],
            columns=("event_id", "section_id", "name", "ordinal", "shard"),
        )
        await conn.copy_records_to_table(
            "seats", records=_seat_records(event_id, venue), columns=_SEAT_COLUMNS
        )
        await conn.copy_records_to_table(
            "ticket_types",
            records=[
                (event_id, t.id, t.name, t.grade, t.price, t.quantity, plan[t.id], ordinal)
                for ordinal, t in enumerate(venue.ticket_types)
            ],
            columns=(
                "event_id", "ticket_type_id", "name", "grade", "price", "quantity", "shard",
                "ordinal",
            ),
        )
    return _event(row)


def _seat_records(event_id: UUID, venue: Venue) -> Iterator[tuple[Any, ...]]:
    ordinal = 0
    for section in venue.sections:
        for row_ordinal, row in enumerate(section.rows):
            for seat in row.seats:
                yield (
                    event_id, seat.id, section.id, row.label, row_ordinal, seat.number, ordinal,
                    seat.grade, seat.price, seat.x, seat.y,
                )
                ordinal += 1


async def get_event(conn: asyncpg.Connection, event_id: UUID) -> EventRecord:
    event = await find_event(conn, event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    return event


async def find_event(conn: asyncpg.Connection, event_id: UUID) -> EventRecord | None:
    row = await SQL.get_event.fetchrow(conn, id=event_id)
    return None if row is None else _event(row)


async def find_event_by_slug(conn: asyncpg.Connection, slug: str) -> EventRecord | None:
    row = await SQL.get_event_by_slug.fetchrow(conn, slug=slug)
    return None if row is None else _event(row)


async def set_event_status(conn: asyncpg.Connection, event_id: UUID, status: str) -> None:
    if status not in EVENT_STATUSES:
        raise ValueError(f"unknown event status {status!r}")
    result = await SQL.set_status.execute(conn, id=event_id, status=status)
    if result == "UPDATE 0":
        raise NotFound(f"no event {event_id}")


async def shard_plan(conn: asyncpg.Connection, event_id: UUID) -> dict[str, int]:
    """Section ids and ticket type ids of the event, each mapped to its shard."""
    rows = await SQL.shard_plan.fetch(conn, event_id=event_id)
    if not rows:
        await get_event(conn, event_id)
    return {row["unit"]: row["shard"] for row in rows}


async def load_venue(
    conn: asyncpg.Connection, event_id: UUID, *, shard: int | None = None
) -> Venue:
    """The venue as stored, or the part of it that `shard` owns (`Venue.subset` of it)."""
    async with conn.transaction():
        event = await SQL.venue_of.fetchrow(conn, id=event_id)
        if event is None:
            raise NotFound(f"no event {event_id}")
        if shard is not None and not 0 <= shard < event["shard_count"]:
            raise NotFound(f"event {event_id} has no shard {shard}")
        sections = await SQL.sections_of.fetch(conn, event_id=event_id, shard=shard)
        seats = await SQL.seats_of.fetch(
            conn, event_id=event_id, section_ids=[s["section_id"] for s in sections])
        types = await SQL.ticket_types_of.fetch(conn, event_id=event_id, shard=shard)
    return Venue(
        name=event["venue_name"],
        sections=_sections(sections, seats),
        ticket_types=tuple(
            TicketType(
                id=t["ticket_type_id"], name=t["name"], grade=t["grade"], price=t["price"],
                quantity=t["quantity"],
            )
            for t in types
        ),
        focal_x=event["venue_focal_x"],
        focal_y=event["venue_focal_y"],
    )


def _sections(sections: Sequence[Any], seats: Sequence[Any]) -> tuple[Section, ...]:
    rows_of: dict[str, list[Row]] = {s["section_id"]: [] for s in sections}
    current: list[Seat] = []
    key: tuple[str, int] | None = None
    label = ""
    for r in seats:
        if (r["section_id"], r["row_ordinal"]) != key:
            if key is not None:
                rows_of[key[0]].append(Row(label=label, seats=tuple(current)))
            key, label, current = (r["section_id"], r["row_ordinal"]), r["row_label"], []
        current.append(
            Seat(
                id=r["seat_id"], section=r["section_id"], row=r["row_label"], number=r["number"],
                grade=r["grade"], price=r["price"], x=r["x"], y=r["y"],
            )
        )
    if key is not None:
        rows_of[key[0]].append(Row(label=label, seats=tuple(current)))
    return tuple(
        Section(id=s["section_id"], name=s["name"], rows=tuple(rows_of[s["section_id"]]))
        for s in sections
    )


def _event(row: Any) -> EventRecord:
    return EventRecord(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        description=row["description"],
        category=row["category"],
        venue_name=row["venue_name"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        sale_opens_at=row["sale_opens_at"],
        sale_closes_at=row["sale_closes_at"],
        status=row["status"],
        settings=SaleSettings(**{name: row[name] for name in _SETTINGS_COLUMNS}),
        shard_count=row["shard_count"],
        queue_seed_hash=row["queue_seed_hash"],
        queue_seed=row["queue_seed"],
        seat_count=row["seat_count"],
        ga_quantity=row["ga_quantity"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        plan_generation=row["plan_generation"],
    )


class NotReplannable(Conflict):
    """The event's seat plan cannot change now (the reason is the message)."""


async def lock_for_replan(conn: asyncpg.Connection, event_id: UUID, *,
                          lead_s: float) -> EventRecord:
    """The event, row-locked until the transaction ends, if its seat plan may still change:
    it is upcoming, its sale opens at least `lead_s` from now, and it has never had a
    reservation. Raises NotReplannable otherwise (NotFound if there is no such event)."""
    row = await SQL.lock_for_replan.fetchrow(conn, id=event_id, lead_s=lead_s)
    if row is None:
        raise NotFound(f"no event {event_id}")
    if row["status"] != "upcoming":
        raise NotReplannable(f"event {event_id} is {row['status']}")
    if not row["far_enough"]:
        raise NotReplannable(f"the sale of event {event_id} opens in less than {lead_s:g} s")
    if row["reserved"]:
        raise NotReplannable(f"event {event_id} has reservations")
    return _event(row)


async def write_seat_plan(conn: asyncpg.Connection, event: EventRecord, venue: Venue,
                          shard_count: int) -> EventRecord:
    """Splits the venue over `shard_count` seat shards as the next plan generation. Call it
    in the transaction of `lock_for_replan`."""
    plan = plan_shards(venue, shard_count)
    await SQL.set_section_shard.executemany(conn, [
        {"event_id": event.id, "section_id": s.id, "shard": plan[s.id]} for s in venue.sections])
    await SQL.set_ticket_type_shard.executemany(conn, [
        {"event_id": event.id, "ticket_type_id": t.id, "shard": plan[t.id]}
        for t in venue.ticket_types])
    row = await SQL.next_plan.fetchrow(conn, id=event.id, shard_count=shard_count)
    return _event(row)


async def upcoming_lines(conn: asyncpg.Connection, *, lead_s: float
                         ) -> list[tuple[EventRecord, int]]:
    """Events whose sale opens at least `lead_s` from now, with the number of units
    (sections and ticket types) their seats can be split by."""
    rows = await SQL.upcoming_lines.fetch(conn, lead_s=lead_s)
    return [(_event(r), int(r["units"])) for r in rows]
