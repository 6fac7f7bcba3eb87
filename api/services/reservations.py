"""Reservation service: a pending reservation from a live hold (the payment saga completes
it), the caller's reservations, one reservation (owner or admin), and cancellation."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from uuid import UUID

from pydantic import Field

from api.context import ApiContext
from api.errors import ApiError, Conflict, Forbidden, Unavailable
from api.routing import Call, Endpoint, path_uuid
from api.schemas import Page, PageQuery, Schema
from api.services.seats import idempotency_key
from engine.core.errors import DomainError, HoldExpired, HoldNotFound, HoldReleased
from engine.core.saga import is_final
from engine.saga.purchase import hold_id_of
from engine.serve.payment_workers import gateway_refusing
from engine.store import catalog_repo, outbox_repo, reservations_repo, saga_repo
from engine.store.errors import InvalidTransition, SeatAlreadyReserved
from engine.store.records import ItemSpec, ReservationRecord

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
STATUSES = ("PENDING", "CONFIRMED", "CANCELLED", "FAILED", "EXPIRED")


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


async def create(call: Call[ApiContext]) -> ReservationOut:
    body: ReservationIn = call.body
    event_id = str(body.event_id)
    user = call.user.user_id
    key = idempotency_key(call)
    seats = await call.ctx.engine.seats(event_id)
    if await gateway_refusing(call.ctx.redis, call.ctx.settings.namespace):
        with contextlib.suppress(DomainError):  # the hold may be gone or not the caller's
            await seats.release(user, body.hold_id, f"gateway-down:{key}")
        raise Unavailable("payments are unavailable right now; your seats were released",
                          code="PAYMENTS_UNAVAILABLE", headers={"Retry-After": "30"})
    parts = await seats.hold_part_views(body.hold_id)
    for _, view in parts:
        if view.user_id != user:
            raise Forbidden("this hold belongs to another user", code="HOLD_NOT_OWNED")
        if view.status != "held":
            raise Conflict(f"the hold is {view.status}", code="HOLD_NOT_LIVE")
    seat_ids = [s for _, view in parts for s in view.seat_ids]
    async with call.ctx.db.acquire() as conn:
        prices = await catalog_repo.seat_prices(conn, body.event_id, seat_ids)
        ga_prices = await catalog_repo.ticket_type_prices(conn, body.event_id)
        items = []
        for shard, view in parts:
            items += [ItemSpec(shard=shard, hold_id=view.hold_id, price=prices[s], seat_id=s)
                      for s in view.seat_ids]
            items += [ItemSpec(shard=shard, hold_id=view.hold_id, price=ga_prices[t],
                               ticket_type_id=t, quantity=q) for t, q in view.ga]
        expires = datetime.fromtimestamp(min(v.expires_at for _, v in parts), UTC)
        try:
            reservation = await reservations_repo.create_pending(
                conn, user_id=UUID(user), event_id=body.event_id, items=items,
                expires_at=expires, idempotency_key=None if key.startswith("auto:") else key)
        except SeatAlreadyReserved as exc:
            raise Conflict("a seat of this hold is already reserved", code="SEAT_RESERVED",
                           details={"seat_ids": exc.seat_ids}) from None
    return reservation_out(reservation)


async def mine(call: Call[ApiContext]) -> ReservationPage:
    query: MyQuery = call.query
    async with call.ctx.db.acquire() as conn:
        rows, total = await reservations_repo.list_reservations(
            conn, user_id=UUID(call.user.user_id), statuses=statuses_of(query.status),
            page=query.page, page_size=query.page_size)
    return ReservationPage(items=[reservation_out(r) for r in rows], total=total,
                           page=query.page, page_size=query.page_size)


async def _visible(call: Call[ApiContext]) -> ReservationRecord:
    reservation_id = path_uuid(call, "reservation_id", "reservation")
    async with call.ctx.db.acquire() as conn:
        reservation = await reservations_repo.get_reservation(conn, reservation_id)
    if str(reservation.user_id) != call.user.user_id and call.user.role != "admin":
        raise Forbidden("only its owner or an administrator may see this reservation")
    return reservation


async def get_one(call: Call[ApiContext]) -> ReservationOut:
    return reservation_out(await _visible(call))


async def cancel(call: Call[ApiContext]) -> ReservationOut:
    """Cancels a pending reservation and gives its seats back. A confirmed one is refunded
    through the payment service."""
    reservation = await _visible(call)
    if reservation.status == "CANCELLED":
        return reservation_out(reservation)
    if reservation.status == "CONFIRMED":
        raise Conflict("a confirmed reservation is cancelled with a refund "
                       "(POST /api/v1/payments/cancel)", code="REFUND_REQUIRED")
    if reservation.status != "PENDING":
        raise Conflict(f"the reservation is {reservation.status}", code="NOT_CANCELLABLE")
    async with call.ctx.db.acquire() as conn:
        saga = await saga_repo.find_for_reservation(conn, reservation.id)
    if saga is not None and not is_final(saga.state):
        raise Conflict("its payment is open: cancel through POST /api/v1/payments/cancel",
                       code="PAYMENT_OPEN")
    hold_id = hold_id_of(reservation)
    seats = await call.ctx.engine.seats(str(reservation.event_id))
    with contextlib.suppress(HoldExpired, HoldReleased, HoldNotFound):  # back on sale already
        await seats.release(str(reservation.user_id), hold_id, f"cancel:{reservation.id}")
    async with call.ctx.db.acquire() as conn:
        try:
            async with conn.transaction():
                updated = await reservations_repo.transition(conn, reservation.id,
                                                             "CANCELLED")
                await outbox_repo.emit(
                    conn, "ReservationCancelled", aggregate_type="reservation",
                    aggregate_id=str(reservation.id),
                    payload={"reservation_id": str(reservation.id),
                             "event_id": str(reservation.event_id),
                             "user_id": str(reservation.user_id), "reason": "cancelled",
                             "refunded": 0})
        except InvalidTransition as exc:
            raise Conflict(str(exc), code="NOT_CANCELLABLE") from None
    return reservation_out(updated)


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
