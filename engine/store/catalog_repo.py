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

from engine.store.errors import Conflict, NotFound
from engine.store.events_repo import _event
from engine.store.records import EventRecord

EFFECTIVE_STATUS = """
CASE
  WHEN e.status IN ('upcoming', 'on_sale') AND e.sale_closes_at IS NOT NULL
       AND e.sale_closes_at <= now() THEN 'closed'
  WHEN e.status = 'upcoming' AND e.sale_opens_at <= now() THEN 'on_sale'
  ELSE e.status
END"""

SORTS = {
    "startsAt": "e.starts_at ASC, e.id ASC",
    "-startsAt": "e.starts_at DESC, e.id DESC",
    "saleOpensAt": "e.sale_opens_at ASC, e.id ASC",
    "title": "lower(e.title) ASC, e.id ASC",
    "-title": "lower(e.title) DESC, e.id DESC",
    "createdAt": "e.created_at ASC, e.id ASC",
    "-createdAt": "e.created_at DESC, e.id DESC",
}

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
    where = ["e.status <> 'draft'"]
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.q:
        p = arg(_like(f.q))
        where.append(f"(e.title ILIKE {p} OR e.description ILIKE {p} OR e.venue_name ILIKE {p})")
    if f.category:
        where.append(f"lower(e.category) = lower({arg(f.category)})")
    if f.venue:
        where.append(f"e.venue_name ILIKE {arg(_like(f.venue))}")
    if f.starts_from:
        where.append(f"e.starts_at >= {arg(f.starts_from)}")
    if f.starts_to:
        where.append(f"e.starts_at < {arg(f.starts_to)}")
    if f.statuses:
        where.append(f"({EFFECTIVE_STATUS}) = ANY({arg(list(f.statuses))}::text[])")
    order = SORTS[f.sort]
    limit, offset = arg(f.page_size), arg((f.page - 1) * f.page_size)
    rows = await conn.fetch(
        f"SELECT e.*, {EFFECTIVE_STATUS} AS effective_status, count(*) OVER () AS total "
        f"FROM events e WHERE {' AND '.join(where)} ORDER BY {order} "
        f"LIMIT {limit} OFFSET {offset}",
        *args,
    )
    total = rows[0]["total"] if rows else await conn.fetchval(
        f"SELECT count(*) FROM events e WHERE {' AND '.join(where)}", *args[:-2])
    return [(_event(r), r["effective_status"]) for r in rows], int(total)


async def get_event_with_status(conn: asyncpg.Connection, event_id: UUID) -> tuple[
        EventRecord, str]:
    row = await conn.fetchrow(
        f"SELECT e.*, {EFFECTIVE_STATUS} AS effective_status FROM events e WHERE e.id = $1",
        event_id)
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
        row = await conn.fetchrow("SELECT * FROM events WHERE id = $1", event_id)
    else:
        sets = ", ".join(f"{column} = ${i + 2}" for i, column in enumerate(changes))
        try:
            row = await conn.fetchrow(
                f"UPDATE events SET {sets}, version = version + 1, updated_at = now() "
                "WHERE id = $1 RETURNING *",
                event_id, *changes.values())
        except asyncpg.CheckViolationError as exc:
            raise Conflict(f"the change breaks a rule of events: {exc.constraint_name}") from exc
    if row is None:
        raise NotFound(f"no event {event_id}")
    return _event(row)


async def has_reservations(conn: asyncpg.Connection, event_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM reservations WHERE event_id = $1 "
        "AND status IN ('PENDING', 'CONFIRMED'))", event_id))


async def delete_event(conn: asyncpg.Connection, event_id: UUID) -> None:
    """Deletes an event with its layout and any ended reservations. Refuses while it has a
    pending or confirmed reservation."""
    async with conn.transaction():
        if await has_reservations(conn, event_id):
            raise Conflict("the event has pending or confirmed reservations")
        await conn.execute(
            "DELETE FROM reservations WHERE event_id = $1", event_id)
        deleted = await conn.execute("DELETE FROM events WHERE id = $1", event_id)
    if deleted.endswith(" 0"):
        raise NotFound(f"no event {event_id}")


async def seat_prices(conn: asyncpg.Connection, event_id: UUID, seat_ids: Sequence[str]
                      ) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT seat_id, price FROM seats WHERE event_id = $1 AND seat_id = ANY($2::text[])",
        event_id, list(seat_ids))
    return {r["seat_id"]: r["price"] for r in rows}


async def ticket_type_prices(conn: asyncpg.Connection, event_id: UUID) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT ticket_type_id, price FROM ticket_types WHERE event_id = $1", event_id)
    return {r["ticket_type_id"]: r["price"] for r in rows}


async def revenue(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> dict[UUID, dict[
        str, int]]:
    """Per event: confirmed revenue and the count of reservations by status."""
    rows = await conn.fetch(
        "SELECT event_id, status, count(*) AS n, coalesce(sum(total_amount), 0) AS amount "
        "FROM reservations WHERE event_id = ANY($1::uuid[]) GROUP BY event_id, status",
        list(event_ids))
    out: dict[UUID, dict[str, int]] = {e: {"revenue": 0} for e in event_ids}
    for r in rows:
        stats = out[r["event_id"]]
        stats[r["status"].lower()] = int(r["n"])
        if r["status"] == "CONFIRMED":
            stats["revenue"] = int(r["amount"])
    return out


async def figures(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> dict[UUID, dict[
        str, Any]]:
    """Per event: the sales figures the outbox consumers counted."""
    rows = await conn.fetch(
        "SELECT * FROM event_figures WHERE event_id = ANY($1::uuid[])", list(event_ids))
    return {r["event_id"]: {k: r[k] for k in (
        "reservations_created", "payments_completed", "payments_failed",
        "reservations_cancelled", "revenue", "refunded", "sold_out_at")} for r in rows}
