"""Reservation service: a pending reservation from a live hold (the payment saga completes
it), the caller's reservations, one reservation (owner or admin), and cancellation. The use
cases are `engine.saga.reservations`'s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

from pydantic import Field

from api.context import ApiContext
from api.errors import ApiError
from api.routing import Call, Endpoint, path_uuid
from api.schemas import Page, PageQuery, Schema
from api.services.seats import idempotency_key
from engine.core.reservation import ReservationStatus
from engine.payments.breaker_report import gateway_refusing
from engine.saga import reservations
from engine.store import reservations_repo
from engine.store.records import ReservationRecord

PREFIX = "/api/v1/reservations"


class ReservationIn(Schema):
    event_id: UUID
    hold_id: str = Field(min_length=3, max_length=1000)


class ItemOut(Schema):
    seat_id: str | None
    ticket_type_id: str | None
    quantity: int
    price: int
    hold_id: str


class ReservationOut(Schema):
    id: str
    event_id: str
    user_id: str
    status: str
    total_amount: int
    currency: str
    expires_at: datetime
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    items: list[ItemOut]


class MyQuery(PageQuery):
    status: str | None = Field(None, description="PENDING, CONFIRMED, CANCELLED, FAILED, "
                                                 "EXPIRED (comma-separated)")


ReservationPage = Page[ReservationOut]
STATUSES = tuple(ReservationStatus)


def reservation_out(r: ReservationRecord) -> ReservationOut:
    return ReservationOut(
        id=str(r.id), event_id=str(r.event_id), user_id=str(r.user_id), status=r.status,
        total_amount=r.total_amount, currency=r.currency, expires_at=r.expires_at,
        created_at=r.created_at, confirmed_at=r.confirmed_at, cancelled_at=r.cancelled_at,
        items=[ItemOut(seat_id=i.seat_id, ticket_type_id=i.ticket_type_id,
                       quantity=i.quantity, price=i.price, hold_id=i.hold_id) for i in r.items],
    )


def statuses_of(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    wanted = tuple(s.strip().upper() for s in raw.split(","))
    bad = [s for s in wanted if s not in STATUSES]
    if bad:
        raise ApiError(f"unknown status {bad[0]!r}", status=422, code="VALIDATION_FAILED")
    return wanted


def _payments_refusing(ctx: ApiContext) -> Callable[[], Awaitable[bool]]:
    return lambda: gateway_refusing(ctx.redis, ctx.settings.namespace)


async def create(call: Call[ApiContext, ReservationIn]) -> ReservationOut:
    key = idempotency_key(call)
    reservation = await reservations.reserve(
        call.ctx.db, call.ctx.engine.seats, _payments_refusing(call.ctx),
        user_id=UUID(call.caller.user_id), event_id=call.body.event_id,
        hold_id=call.body.hold_id, key=key,
        idempotency_key=None if key.startswith("auto:") else key)
    return reservation_out(reservation)


async def mine(call: Call[ApiContext, None, MyQuery]) -> ReservationPage:
    query = call.query
    async with call.ctx.db.acquire() as conn:
        rows, total = await reservations_repo.list_reservations(
            conn, user_id=UUID(call.caller.user_id), statuses=statuses_of(query.status),
            page=query.page, page_size=query.page_size)
    return ReservationPage(items=[reservation_out(r) for r in rows], total=total,
                           page=query.page, page_size=query.page_size)


async def get_one(call: Call[ApiContext]) -> ReservationOut:
    reservation = await reservations.visible(
        call.ctx.db, path_uuid(call, "reservation_id", "reservation"),
        viewer=UUID(call.caller.user_id), admin=call.caller.role == "admin")
    return reservation_out(reservation)


async def cancel(call: Call[ApiContext]) -> ReservationOut:
    """Cancels a pending reservation and gives its seats back. A confirmed one is refunded
    through the payment service."""
    reservation = await reservations.cancel(
        call.ctx.db, call.ctx.engine.seats, path_uuid(call, "reservation_id", "reservation"),
        viewer=UUID(call.caller.user_id), admin=call.caller.role == "admin")
    return reservation_out(reservation)


ENDPOINTS = [
    Endpoint("POST", PREFIX, create, "Create a pending reservation from your hold",
             "reservations", body=ReservationIn, response=ReservationOut, status=201,
             errors=(403, 404, 409),
             headers=(("Idempotency-Key", "Retries with the same key return the same "
                                          "reservation", False),)),
    Endpoint("GET", f"{PREFIX}/my", mine, "Your reservations", "reservations",
             query=MyQuery, response=ReservationPage),
    Endpoint("GET", f"{PREFIX}/{{reservation_id}}", get_one,
             "One reservation (its owner or an administrator)", "reservations",
             response=ReservationOut, errors=(403, 404)),
    Endpoint("POST", f"{PREFIX}/{{reservation_id}}/cancel", cancel,
             "Cancel a pending reservation; its seats go back on sale", "reservations",
             response=ReservationOut, errors=(403, 404, 409)),
]
