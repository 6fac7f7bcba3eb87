"""Reservations and their items. The partial unique index on active seat items is the last
guard against selling a seat twice."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from engine.core.inventory import ConfirmedSale
from engine.core.reservation import ACTIVE, ReservationStatus, moves_into
from engine.store import outbox_repo
from engine.store.errors import Conflict, InvalidTransition, NotFound, SeatAlreadyReserved
from engine.store.queries import load_queries
from engine.store.records import ItemSpec, ReservationItem, ReservationRecord

ACTIVE_SEAT_INDEX = "reservation_items_active_seat_key"
SQL = load_queries("engine.store", "reservations.sql")


def _check_items(items: Sequence[ItemSpec]) -> list[str]:
    if not items:
        raise ValueError("a reservation needs at least one item")
    seat_ids: list[str] = []
    for item in items:
        if (item.seat_id is None) == (item.ticket_type_id is None):
            raise ValueError("an item names either a seat or a ticket type")
        if item.quantity < 1 or item.price < 0 or (item.seat_id and item.quantity != 1):
            raise ValueError(f"invalid quantity or price in {item}")
        if item.seat_id is not None:
            seat_ids.append(item.seat_id)
    if len(set(seat_ids)) != len(seat_ids):
        raise ValueError("a seat appears twice in the reservation")
    return seat_ids


async def create_pending(
    conn: asyncpg.Connection,
    *,
    user_id: UUID,
    event_id: UUID,
    items: Sequence[ItemSpec],
    expires_at: datetime,
    idempotency_key: str | None = None,
) -> ReservationRecord:
    """A PENDING reservation of `items`; the same idempotency key again returns the first one."""
    seat_ids = _check_items(items)
    total = sum(item.price * item.quantity for item in items)
    async with conn.transaction():
        if idempotency_key is not None:
            existing = await _find_by_key(conn, user_id, idempotency_key)
            if existing is not None:
                return existing
        try:
            async with conn.transaction():
                row = await SQL.insert_reservation.fetchrow(
                    conn, user_id=user_id, event_id=event_id, total_amount=total,
                    idempotency_key=idempotency_key, expires_at=expires_at,
                )
                if row is None:
                    assert idempotency_key is not None
                    existing = await _find_by_key(conn, user_id, idempotency_key)
                    assert existing is not None
                    return existing
                await SQL.insert_item.executemany(conn, [
                    {"reservation_id": row["id"], "event_id": event_id, "shard": i.shard,
                     "hold_id": i.hold_id, "seat_id": i.seat_id,
                     "ticket_type_id": i.ticket_type_id, "quantity": i.quantity,
                     "price": i.price}
                    for i in items
                ])
                await outbox_repo.emit(
                    conn, "ReservationCreated", aggregate_type="reservation",
                    aggregate_id=str(row["id"]),
                    payload={"reservation_id": str(row["id"]), "event_id": str(event_id),
                             "user_id": str(user_id), "amount": total,
                             "seat_ids": seat_ids})
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != ACTIVE_SEAT_INDEX:
                raise Conflict(str(exc)) from exc
            taken = await SQL.reserved_seats.fetch(conn, event_id=event_id, seat_ids=seat_ids)
            raise SeatAlreadyReserved([r["seat_id"] for r in taken] or sorted(seat_ids)) from exc
        except asyncpg.ForeignKeyViolationError as exc:
            raise NotFound(f"unknown user, event, seat or ticket type: {exc}") from exc
        return await get_reservation(conn, row["id"])


async def _find_by_key(
    conn: asyncpg.Connection, user_id: UUID, idempotency_key: str
) -> ReservationRecord | None:
    row = await SQL.find_by_key.fetchrow(conn, user_id=user_id, idempotency_key=idempotency_key)
    return None if row is None else await _with_items(conn, row)


async def get_reservation(conn: asyncpg.Connection, reservation_id: UUID) -> ReservationRecord:
    row = await SQL.get_reservation.fetchrow(conn, id=reservation_id)
    if row is None:
        raise NotFound(f"no reservation {reservation_id}")
    return await _with_items(conn, row)


async def transition(
    conn: asyncpg.Connection, reservation_id: UUID, to_status: str
) -> ReservationRecord:
    """Moves the reservation to `to_status`; its items stay active only while it is PENDING
    or CONFIRMED. The same status again changes nothing. Runs in the caller's transaction,
    or in one of its own."""
    try:
        to = ReservationStatus(to_status)
    except ValueError:
        raise ValueError(f"unknown reservation status {to_status!r}") from None
    async with contextlib.nullcontext() if conn.is_in_transaction() else conn.transaction():
        row = await SQL.move.fetchrow(
            conn, id=reservation_id, status=to, confirmed=to is ReservationStatus.CONFIRMED,
            cancelled=to is ReservationStatus.CANCELLED, from_statuses=list(moves_into(to)),
        )
        if row is None:  # not there, already there, or not allowed from where it is
            row = await SQL.lock_reservation.fetchrow(conn, id=reservation_id)
            if row is None:
                raise NotFound(f"no reservation {reservation_id}")
            if row["status"] == to:
                return await _with_items(conn, row)
            raise InvalidTransition(
                f"reservation {reservation_id} cannot go from {row['status']} to {to}"
            )
        items = await SQL.set_items_active.fetch(
            conn, reservation_id=reservation_id, active=to in ACTIVE)
        return _record_of(row, sorted(items, key=lambda i: i["id"]))


async def extend_pending(
    conn: asyncpg.Connection, reservation_id: UUID, expires_at: datetime
) -> bool:
    """Moves a PENDING reservation's expiry to `expires_at` if that is later, locking its row
    for the caller's transaction; False if the reservation is not PENDING."""
    return bool(await SQL.extend_pending.fetchval(conn, id=reservation_id, expires_at=expires_at))


async def shard_sales(
    conn: asyncpg.Connection, *, event_id: UUID, shard: int
) -> tuple[list[ConfirmedSale], set[str]]:
    """The confirmed sales of a shard grouped by hold, and the hold ids of all its active items."""
    rows = await SQL.shard_items.fetch(conn, event_id=event_id, shard=shard)
    sales: dict[str, tuple[str, list[str], dict[str, int]]] = {}
    for r in rows:
        if r["status"] != ReservationStatus.CONFIRMED:
            continue
        _, seats, ga = sales.setdefault(r["hold_id"], (str(r["user_id"]), [], {}))
        if r["seat_id"] is not None:
            seats.append(r["seat_id"])
        else:
            ga[r["ticket_type_id"]] = ga.get(r["ticket_type_id"], 0) + r["quantity"]
    confirmed = [
        ConfirmedSale(hold_id, user_id, tuple(seats), tuple(ga.items()))
        for hold_id, (user_id, seats, ga) in sales.items()
    ]
    return confirmed, {r["hold_id"] for r in rows}


async def _with_items(conn: asyncpg.Connection, row: Any) -> ReservationRecord:
    items = await SQL.items_of.fetch(conn, reservation_ids=[row["id"]])
    return _record_of(row, items)


def _record_of(row: Any, items: Sequence[Any]) -> ReservationRecord:
    return ReservationRecord(
        id=row["id"],
        user_id=row["user_id"],
        event_id=row["event_id"],
        status=ReservationStatus(row["status"]),
        total_amount=row["total_amount"],
        currency=row["currency"],
        idempotency_key=row["idempotency_key"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        confirmed_at=row["confirmed_at"],
        cancelled_at=row["cancelled_at"],
        items=tuple(
            ReservationItem(
                id=i["id"], reservation_id=i["reservation_id"], event_id=i["event_id"],
                shard=i["shard"], hold_id=i["hold_id"], seat_id=i["seat_id"],
                ticket_type_id=i["ticket_type_id"], quantity=i["quantity"], price=i["price"],
                active=i["active"],
            )
            for i in items
        ),
    )


async def list_reservations(
    conn: asyncpg.Connection,
    *,
    user_id: UUID | None = None,
    event_id: UUID | None = None,
    statuses: Sequence[str] = (),
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[ReservationRecord], int]:
    """Reservations matching the filters, newest first, one page, with the total count."""
    rows = await SQL.list_reservations.fetch(
        conn, user_id=user_id, event_id=event_id, statuses=list(statuses),
        created_from=created_from, created_to=created_to, limit=page_size,
        offset=(page - 1) * page_size,
    )
    page_rows = [r for r in rows if r["id"] is not None]
    items: dict[UUID, list[Any]] = {r["id"]: [] for r in page_rows}
    if items:
        for item in await SQL.items_of.fetch(conn, reservation_ids=list(items)):
            items[item["reservation_id"]].append(item)
    return [_record_of(r, items[r["id"]]) for r in page_rows], int(rows[0]["total"])
