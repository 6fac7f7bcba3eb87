"""Reservations: a pending reservation made from a live hold and priced by the server (the
purchase saga, `engine.saga.purchase`, takes it from there), and the cancellation of one not
yet paid for. A pending reservation only ever covers live holds of its own user; a cancelled
one has given its seats back, and says so in the outbox in the transaction that ended it."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

import asyncpg

from engine.core.errors import DomainError, HoldExpired, HoldNotFound, HoldReleased
from engine.core.inventory import HoldView
from engine.core.reservation import ReservationStatus
from engine.core.saga import is_final
from engine.saga.errors import Kind, Refused
from engine.saga.messages import emit_reservation_cancelled
from engine.saga.purchase import hold_id_of
from engine.store import catalog_repo, reservations_repo, saga_repo
from engine.store.errors import InvalidTransition, SeatAlreadyReserved
from engine.store.records import ItemSpec, ReservationRecord

PAYMENTS_RETRY_AFTER_S = 30


class Seats(Protocol):
    """An event's seats (`engine.router.seats.SeatRouter`), as reservations use them."""

    async def hold_part_views(self, hold_id: str) -> list[tuple[int, HoldView]]: ...

    async def release(self, user: str, hold_id: str, key: str) -> HoldView: ...


SeatsFor = Callable[[str], Awaitable[Seats]]
PaymentsRefusing = Callable[[], Awaitable[bool]]
"""Whether the payment gateway is known to be down (a reservation could not be paid)."""


async def reserve(pool: asyncpg.Pool, seats_for: SeatsFor, payments_refusing: PaymentsRefusing,
                  *, user_id: UUID, event_id: UUID, hold_id: str, key: str,
                  idempotency_key: str | None) -> ReservationRecord:
    """A pending reservation for the caller's live hold, at the server's prices, expiring
    with the hold. `key` keys the shard calls; `idempotency_key`, when the client gave one,
    makes a retry return the same reservation. While payments are down the hold is given
    back instead (it could not be paid for)."""
    user = str(user_id)
    seats = await seats_for(str(event_id))
    if await payments_refusing():
        with contextlib.suppress(DomainError):  # the hold may be gone or not the caller's
            await seats.release(user, hold_id, f"gateway-down:{key}")
        raise Refused("PAYMENTS_UNAVAILABLE",
                      "payments are unavailable right now; your seats were released",
                      Kind.UNAVAILABLE, retry_after_s=PAYMENTS_RETRY_AFTER_S)
    parts = await seats.hold_part_views(hold_id)
    for _, view in parts:
        if view.user_id != user:
            raise Refused("HOLD_NOT_OWNED", "this hold belongs to another user", Kind.FORBIDDEN)
        if view.status != "held":
            raise Refused("HOLD_NOT_LIVE", f"the hold is {view.status}")
    seat_ids = [s for _, view in parts for s in view.seat_ids]
    async with pool.acquire() as conn:
        prices = await catalog_repo.seat_prices(conn, event_id, seat_ids)
        ga_prices = await catalog_repo.ticket_type_prices(conn, event_id)
        items = []
        for shard, view in parts:
            items += [ItemSpec(shard=shard, hold_id=view.hold_id, price=prices[s], seat_id=s)
                      for s in view.seat_ids]
            items += [ItemSpec(shard=shard, hold_id=view.hold_id, price=ga_prices[t],
                               ticket_type_id=t, quantity=q) for t, q in view.ga]
        expires = datetime.fromtimestamp(min(v.expires_at for _, v in parts), UTC)
        try:
            return await reservations_repo.create_pending(
                conn, user_id=user_id, event_id=event_id, items=items, expires_at=expires,
                idempotency_key=idempotency_key)
        except SeatAlreadyReserved as exc:
            raise Refused("SEAT_RESERVED", "a seat of this hold is already reserved",
                          details={"seat_ids": exc.seat_ids}) from None


async def visible(pool: asyncpg.Pool, reservation_id: UUID, *, viewer: UUID,
                  admin: bool) -> ReservationRecord:
    """The reservation, if the viewer owns it or is an administrator."""
    async with pool.acquire() as conn:
        reservation = await reservations_repo.get_reservation(conn, reservation_id)
    if reservation.user_id != viewer and not admin:
        raise Refused("FORBIDDEN", "only its owner or an administrator may see this "
                      "reservation", Kind.FORBIDDEN)
    return reservation


async def cancel(pool: asyncpg.Pool, seats_for: SeatsFor, reservation_id: UUID, *,
                 viewer: UUID, admin: bool) -> ReservationRecord:
    """Cancels a pending reservation and gives its seats back; cancelling again answers the
    same. A confirmed one, or one whose payment is open, is cancelled through the purchase
    saga (a refund)."""
    reservation = await visible(pool, reservation_id, viewer=viewer, admin=admin)
    if reservation.status == ReservationStatus.CANCELLED:
        return reservation
    if reservation.status == ReservationStatus.CONFIRMED:
        raise Refused("REFUND_REQUIRED", "a confirmed reservation is cancelled with a refund "
                      "(POST /api/v1/payments/cancel)")
    if reservation.status != ReservationStatus.PENDING:
        raise Refused("NOT_CANCELLABLE", f"the reservation is {reservation.status}")
    async with pool.acquire() as conn:
        saga = await saga_repo.find_for_reservation(conn, reservation.id)
    if saga is not None and not is_final(saga.state):
        raise Refused("PAYMENT_OPEN",
                      "its payment is open: cancel through POST /api/v1/payments/cancel")
    seats = await seats_for(str(reservation.event_id))
    with contextlib.suppress(HoldExpired, HoldReleased, HoldNotFound):  # back on sale already
        await seats.release(str(reservation.user_id), hold_id_of(reservation),
                            f"cancel:{reservation.id}")
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                updated = await reservations_repo.transition(conn, reservation.id,
                                                             ReservationStatus.CANCELLED)
                await emit_reservation_cancelled(conn, reservation, reason="cancelled",
                                                 refunded=0)
        except InvalidTransition as exc:
            raise Refused("NOT_CANCELLABLE", str(exc)) from None
    return updated
