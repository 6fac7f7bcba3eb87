"""The event catalogue as buyers and admins query it: search with filters, sorting and
pages, an event's effective status (an upcoming event whose sale window is open is on sale),
edits, deletion, prices and revenue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from engine.core.reservation import ACTIVE, ReservationStatus
from engine.store.errors import Conflict, NotFound
from engine.store.events_repo import _event
from engine.store.queries import load_queries
from engine.store.records import EventRecord

SQL = load_queries("engine.store", "catalog.sql")

SORTS = frozenset({"startsAt", "-startsAt", "saleOpensAt", "title", "-title", "createdAt",
                   "-createdAt"})
"""The orders `search_events` knows (a leading '-' is descending; ties go by id)."""

EDITABLE = (
    "title", "description", "category", "starts_at", "ends_at", "sale_opens_at",
    "sale_closes_at", "hold_ttl_s", "hold_extension_s", "hold_max_extensions",
    "hold_max_lifetime_s", "per_user_limit", "admission_rate", "active_cap",
    "heartbeat_timeout_s", "session_ttl_s", "status",
)


@dataclass(frozen=True)
class EventFilter:
    q: str | None = None
    category: str | None = None
    venue: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    statuses: Sequence[str] = ()
    sort: str = "startsAt"
    page: int = 1
    page_size: int = 20


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_events(conn: asyncpg.Connection, f: EventFilter) -> tuple[list[
        tuple[EventRecord, str]], int]:
    """Events matching the filter, each with its effective status, and the total count."""
    if f.sort not in SORTS:
        raise ValueError(f"unknown sort {f.sort!r}")
    filters = {
        "q": _like(f.q) if f.q else None, "category": f.category or None,
        "venue": _like(f.venue) if f.venue else None, "starts_from": f.starts_from,
        "starts_to": f.starts_to, "statuses": list(f.statuses), "sort": f.sort,
    }
    offset = (f.page - 1) * f.page_size
    rows = await SQL.search_events.fetch(conn, **filters, limit=f.page_size, offset=offset)
    counted = rows if rows or not offset else await SQL.search_events.fetch(
        conn, **filters, limit=1, offset=0)  # past the last page: count from the first
    total = counted[0]["total"] if counted else 0
    return [(_event(r), r["effective_status"]) for r in rows], int(total)


async def get_event_with_status(conn: asyncpg.Connection, event_id: UUID) -> tuple[
        EventRecord, str]:
    row = await SQL.event_with_status.fetchrow(conn, id=event_id)
    if row is None:
        raise NotFound(f"no event {event_id}")
    return _event(row), row["effective_status"]


async def update_event(conn: asyncpg.Connection, event_id: UUID, changes: dict[str, Any]
                       ) -> EventRecord:
    """Applies `changes` (column -> value, only EDITABLE columns) and bumps the version."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    if not changes:
        row = await SQL.get_event.fetchrow(conn, id=event_id)
    else:
        try:
            row = await SQL.update_event.fetchrow(
                conn, id=event_id, changed=list(changes),
                **{column: changes.get(column) for column in EDITABLE})
        except asyncpg.CheckViolationError as exc:
            raise Conflict(f"the change breaks a rule of events: {exc.constraint_name}") from exc
    if row is None:
        raise NotFound(f"no event {event_id}")
    return _event(row)


async def has_reservations(conn: asyncpg.Connection, event_id: UUID) -> bool:
    """Whether the event has a pending or confirmed reservation."""
    return bool(await SQL.has_reservations.fetchval(
        conn, event_id=event_id, statuses=list(ACTIVE)))


async def delete_event(conn: asyncpg.Connection, event_id: UUID) -> None:
    """Deletes an event with its layout and any ended reservations. Refuses while it has a
    pending or confirmed reservation."""
    async with conn.transaction():
        if await has_reservations(conn, event_id):
            raise Conflict("the event has pending or confirmed reservations")
        await SQL.delete_reservations.execute(conn, event_id=event_id)
        deleted = await SQL.delete_event.execute(conn, id=event_id)
    if deleted.endswith(" 0"):
        raise NotFound(f"no event {event_id}")


async def seat_prices(conn: asyncpg.Connection, event_id: UUID, seat_ids: Sequence[str]
                      ) -> dict[str, int]:
    rows = await SQL.seat_prices.fetch(conn, event_id=event_id, seat_ids=list(seat_ids))
    return {r["seat_id"]: r["price"] for r in rows}


async def ticket_type_prices(conn: asyncpg.Connection, event_id: UUID) -> dict[str, int]:
    rows = await SQL.ticket_type_prices.fetch(conn, event_id=event_id)
    return {r["ticket_type_id"]: r["price"] for r in rows}


async def revenue(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> dict[UUID, dict[
        str, int]]:
    """Per event: confirmed revenue and the count of reservations by status."""
    rows = await SQL.reservations_by_status.fetch(conn, event_ids=list(event_ids))
    out: dict[UUID, dict[str, int]] = {e: {"revenue": 0} for e in event_ids}
    for r in rows:
        stats = out[r["event_id"]]
        stats[r["status"].lower()] = int(r["n"])
        if r["status"] == ReservationStatus.CONFIRMED:
            stats["revenue"] = int(r["amount"])
    return out


async def figures(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> dict[UUID, dict[
        str, Any]]:
    """Per event: the sales figures the outbox consumers counted."""
    rows = await SQL.figures.fetch(conn, event_ids=list(event_ids))
    return {r["event_id"]: {k: r[k] for k in (
        "reservations_created", "payments_completed", "payments_failed",
        "reservations_cancelled", "revenue", "refunded", "sold_out_at")} for r in rows}
