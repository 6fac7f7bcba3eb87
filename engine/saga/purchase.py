"""The purchase saga: from a pending reservation to a sale whose money and seats agree, or to
a state where neither was taken (see `engine.core.saga` for the states).

Each step runs under the saga's lease (one runner at a time, `engine.store.saga_repo`), and the
state it reaches is committed with what it changed in PostgreSQL; so a process that dies
between steps leaves a saga that `resume` (run by the recovery worker) finishes or compensates.
No database connection is held while the gateway or a shard is called. Calls to the gateway
and the shards carry keys derived from the reservation, so a step run twice does its work
once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

import asyncpg

from engine.core.clock import Clock, SystemClock
from engine.core.errors import (
    DomainError,
    HoldAlreadyConfirmed,
    HoldExpired,
    HoldExtensionRefused,
    HoldNotFound,
    HoldReleased,
    SaleNotFound,
    ShardUnavailable,
)
from engine.core.ids import join_parts
from engine.core.reservation import ENDED, ReservationStatus
from engine.core.saga import MONEY_MAY_BE_TAKEN, SEATS_MAY_BE_SOLD, SagaState, check_move
from engine.payments.breaker import BreakerOpen
from engine.payments.errors import (
    AlreadyProcessed,
    GatewayError,
    GatewayRefused,
    GatewayUnknownOutcome,
)
from engine.payments.payment import Payment, PaymentStatus
from engine.saga.errors import Kind, Refused
from engine.saga.messages import emit_reservation_cancelled
from engine.store import outbox_repo, payments_repo, reservations_repo, saga_repo
from engine.store.errors import InvalidTransition
from engine.store.payments_repo import PaymentRecord
from engine.store.records import ReservationRecord
from engine.store.saga_repo import SagaMoved, SagaRecord

log = logging.getLogger(__name__)
T = TypeVar("T")

KIND = "purchase"
HOLD_GONE = (HoldExpired, HoldReleased, HoldNotFound)
RETRY_IN_S = 5.0
STALLS = (GatewayError, BreakerOpen, OSError, DomainError, ShardUnavailable)
"""What makes a step wait for a later attempt (the gateway or a shard cannot answer now)."""


class Gateway(Protocol):
    async def confirm(self, payment_key: str, order_id: str, amount: int, *,
                      idempotency_key: str | None = None) -> Payment: ...

    async def cancel(self, payment_key: str, reason: str, *, amount: int | None = None,
                     idempotency_key: str | None = None) -> Payment: ...

    async def get_payment_by_order(self, order_id: str) -> Payment: ...


class Seats(Protocol):
    """An event's seats (`engine.actors.router.EventSeats`), as the saga uses them."""

    async def extend(self, user: str, hold_id: str, key: str,
                     seconds: float | None = None) -> Any: ...

    async def confirm(self, user: str, hold_id: str, key: str) -> Any: ...

    async def release(self, user: str, hold_id: str, key: str) -> Any: ...

    async def cancel_sale(self, user: str, hold_id: str, key: str) -> Any: ...


SeatsFor = Callable[[str], Awaitable[Seats]]


class SagaError(Refused):
    """A request the saga refuses; `code` and `kind` say how (the API maps them). One that
    cannot be answered now is worth retrying in a couple of seconds."""

    def __init__(self, code: str, message: str, kind: Kind = Kind.CONFLICT) -> None:
        super().__init__(code, message, kind,
                         retry_after_s=2 if kind is Kind.UNAVAILABLE else None)


class OutcomePending(SagaError):
    """The gateway's answer is unknown for now; the recovery worker will settle the saga."""

    def __init__(self, message: str) -> None:
        super().__init__("PAYMENT_OUTCOME_PENDING", message, Kind.UNAVAILABLE)


def hold_id_of(reservation: ReservationRecord) -> str:
    return join_parts(i.hold_id for i in reservation.items)


class PurchaseSaga:
    """`lease_s`: how long a runner's claim on a saga lasts unless renewed (it is renewed every
    third of that while the runner lives). `answer_within_s`: how long a request waits for the
    gateway or a shard before answering `OutcomePending` while its saga goes on; None
    waits for the end. `acquire_timeout_s`: how long a step waits for a database connection.
    `clock` tells when a reservation's payment window has ended."""

    def __init__(self, pool: asyncpg.Pool, gateway: Gateway, seats_for: SeatsFor, *,
                 lease_s: float = 15.0, answer_within_s: float | None = None,
                 acquire_timeout_s: float | None = None, clock: Clock | None = None) -> None:
        self._pool = pool
        self._clock = clock or SystemClock()
        self._gateway = gateway
        self._seats_for = seats_for
        self._lease_s = lease_s
        self._answer_within_s = answer_within_s
        self._acquire_timeout_s = acquire_timeout_s
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ requests

    async def prepare(self, user_id: UUID, reservation_id: UUID) -> PaymentRecord:
        """Opens the payment of a pending reservation: READY, for the reservation's amount, its
        hold extended to cover the payment window. Preparing again returns the same payment."""
        async with self._conn() as conn:
            reservation = await self._owned(conn, user_id, reservation_id)
            payment = await payments_repo.find_by_order(conn, str(reservation_id))
        if payment is not None:  # committed with its saga: prepared already
            return payment
        if reservation.status != ReservationStatus.PENDING:
            raise SagaError("NOT_PAYABLE", f"the reservation is {reservation.status}")
        if reservation.expires_at <= self._now():
            raise SagaError("RESERVATION_EXPIRED", "the reservation has expired")
        seats = await self._seats_for(str(reservation.event_id))
        try:
            view = await self._within_answer_time(
                seats.extend(str(user_id), hold_id_of(reservation), f"pay:{reservation_id}"),
                "the seats")
            expires = datetime.fromtimestamp(view.expires_at, UTC)
        except HoldExtensionRefused:
            expires = reservation.expires_at
        except HOLD_GONE:
            raise SagaError("HOLD_NOT_LIVE", "the seats are no longer held") from None
        async with self._conn() as conn, conn.transaction():
            if not await reservations_repo.extend_pending(conn, reservation_id, expires):
                raise SagaError("NOT_PAYABLE", "the reservation is no longer pending")
            payment = await payments_repo.prepare(
                conn, reservation_id=reservation_id, user_id=user_id,
                amount=reservation.total_amount)
            await saga_repo.start(conn, kind=KIND, reservation_id=reservation_id,
                                  state=SagaState.PREPARED,
                                  data={"amount": reservation.total_amount},
                                  next_attempt_at=max(expires, reservation.expires_at))
        return payment

    async def confirm(self, user_id: UUID, order_id: str, payment_key: str,
                      amount: int) -> tuple[ReservationRecord, PaymentRecord]:
        """Confirms the payment with the gateway and sells the seats."""
        reservation_id = _reservation_id(order_id)
        async with self._conn() as conn:
            reservation = await self._owned(conn, user_id, reservation_id)
            payment = await payments_repo.find_by_order(conn, order_id)
        if payment is None:
            raise SagaError("NOT_PREPARED", "prepare the payment first")
        if amount != payment.amount:
            raise SagaError("AMOUNT_MISMATCH", f"the amount must be {payment.amount}",
                            Kind.INVALID)
        return await self._answer(self._confirm(reservation, payment, payment_key))

    async def _confirm(self, reservation: ReservationRecord, payment: PaymentRecord,
                       payment_key: str) -> tuple[ReservationRecord, PaymentRecord]:
        order_id = str(reservation.id)
        async with self._leased(reservation.id) as saga:
            if saga.state == SagaState.PREPARED:
                if payment.payment_key not in (None, payment_key):
                    raise SagaError("PAYMENT_KEY_MISMATCH",
                                    "another payment key is already confirming this order")
                async with self._conn() as conn, conn.transaction():
                    await payments_repo.set_key(conn, order_id, payment_key)
                    saga = await self._move(conn, saga, SagaState.CONFIRMING, "confirm_requested",
                                            {"payment_key": payment_key})
            elif saga.data.get("payment_key") != payment_key:
                raise SagaError("PAYMENT_KEY_MISMATCH",
                                "this order was confirmed with another payment key")
            saga = await self._run(saga, reservation)
        if saga.state in (SagaState.CONFIRMING, SagaState.APPROVED):
            raise OutcomePending("the payment's outcome is not known yet; it will be "
                                 "settled shortly (GET the payment's status)")
        if saga.state == SagaState.FAILED:
            failure = saga.data.get("failure", {})
            raise SagaError(str(failure.get("code", "PAYMENT_FAILED")),
                            str(failure.get("message", "the payment failed")))
        async with self._conn() as conn:
            return (await reservations_repo.get_reservation(conn, reservation.id),
                    await payments_repo.by_order(conn, order_id))

    async def cancel(self, user_id: UUID | None, order_id: str, reason: str
                     ) -> tuple[ReservationRecord, PaymentRecord | None]:
        """Cancels a reservation: a confirmed one is refunded and its seats go back on sale; a
        pending one is compensated (nothing was charged). `user_id` None: an administrator."""
        reservation_id = _reservation_id(order_id)
        async with self._conn() as conn:
            reservation = await reservations_repo.get_reservation(conn, reservation_id)
            if user_id is not None and reservation.user_id != user_id:
                raise SagaError("FORBIDDEN", "this reservation belongs to another user",
                                Kind.FORBIDDEN)
            saga = await saga_repo.find_for_reservation(conn, reservation_id)
            if saga is None or reservation.status in ENDED:
                if reservation.status == ReservationStatus.PENDING:
                    raise SagaError("NOT_PREPARED", "nothing was paid: cancel the reservation "
                                    "(POST /api/v1/reservations/{id}/cancel)")
                return reservation, await payments_repo.find_by_order(conn, order_id)
        return await self._answer(self._cancel(reservation, reason))

    async def refund(self, user_id: UUID | None, order_id: str, reason: str
                     ) -> tuple[ReservationRecord, PaymentRecord]:
        """`cancel`, for a reservation that was paid for: one without a payment is refused
        (`NOT_PAID`)."""
        reservation, payment = await self.cancel(user_id, order_id, reason)
        if payment is None:
            raise SagaError("NOT_PAID", "this reservation has no payment")
        return reservation, payment

    async def _cancel(self, reservation: ReservationRecord, reason: str
                      ) -> tuple[ReservationRecord, PaymentRecord | None]:
        async with self._leased(reservation.id) as saga:
            if saga.state == SagaState.COMPLETED:
                async with self._conn() as conn, conn.transaction():
                    saga = await self._move(conn, saga, SagaState.REFUNDING, "refund_requested",
                                            {"reason": reason[:200]})
            elif saga.state == SagaState.PREPARED:
                async with self._conn() as conn, conn.transaction():
                    saga = await self._move(conn, saga, SagaState.COMPENSATING, "cancelled",
                                            {"failure": {"code": "CANCELLED_BY_USER",
                                                         "message": reason[:200],
                                                         "kind": "cancelled"}})
            elif saga.state not in (SagaState.REFUNDING, SagaState.COMPENSATING,
                                    SagaState.FAILED, SagaState.CANCELLED):  # ended meanwhile
                raise SagaError("PAYMENT_IN_PROGRESS",
                                "the payment is being confirmed; try again shortly")
            saga = await self._run(saga, reservation)
        if saga.state in (SagaState.REFUNDING, SagaState.COMPENSATING):
            raise OutcomePending("the refund is not settled yet; it will be shortly")
        async with self._conn() as conn:
            return (await reservations_repo.get_reservation(conn, reservation.id),
                    await payments_repo.find_by_order(conn, str(reservation.id)))

    # ------------------------------------------------------------------ recovery

    async def resume(self, reservation_id: UUID) -> str | None:
        """Runs an unfinished saga as far as it goes now; its state after, or None if another
        runner holds it."""
        try:
            async with self._leased(reservation_id) as saga:
                async with self._conn() as conn:
                    reservation = await reservations_repo.get_reservation(conn, reservation_id)
                    if saga.state == SagaState.PREPARED:
                        if reservation.expires_at > self._now():
                            await saga_repo.postpone(conn, saga.id, reservation.expires_at)
                            return saga.state
                        async with conn.transaction():
                            saga = await self._move(
                                conn, saga, SagaState.COMPENSATING, "expired",
                                {"failure": {"code": "RESERVATION_EXPIRED",
                                             "message": "not paid in time", "kind": "expired"}})
                saga = await self._run(saga, reservation)
                return saga.state
        except SagaError as exc:
            if exc.code == "IN_FLIGHT":
                return None
            raise

    async def recover(self, *, limit: int = 100) -> int:
        """Resumes every saga that is due; how many it touched."""
        async with self._conn() as conn:
            due = await saga_repo.due(conn, limit=limit)
        for saga in due:
            try:
                await self.resume(saga.reservation_id)
            except Exception:
                log.exception("saga of reservation %s could not resume", saga.reservation_id)
        return len(due)

    async def close(self, *, grace_s: float = 0.0) -> None:
        """Lets the sagas still running after their requests answered go on for `grace_s`,
        then stops them (their leases lapse and the recovery worker of a live replica
        finishes them)."""
        running = list(self._background)
        if running and grace_s > 0:
            await asyncio.wait(running, timeout=grace_s)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(BaseException):
                await task

    # ------------------------------------------------------------------ the steps

    async def _run(self, saga: SagaRecord, reservation: ReservationRecord) -> SagaRecord:
        """Takes every step it can from the saga's state; stops at a final state, or where a
        step must wait (its failure is logged and the next attempt scheduled). Each step calls
        the gateway or a shard holding no database connection, then records what it did in one
        short transaction."""
        steps = {
            SagaState.CONFIRMING: self._settle_payment,
            SagaState.APPROVED: self._record_sale,
            SagaState.RECORDED: self._sell_seats,
            SagaState.COMPENSATING: self._compensate,
            SagaState.REFUNDING: self._refund,
        }
        while (step := steps.get(SagaState(saga.state))) is not None:
            try:
                moved = await step(saga, reservation)
            except SagaMoved as exc:  # another runner took over (this one outlived its lease)
                log.warning("saga %s: %s", saga.id, exc)
                async with self._conn() as conn:
                    return await saga_repo.for_reservation(conn, saga.reservation_id)
            except STALLS as exc:
                log.warning("saga %s: %s stalls: %s", saga.id, saga.state, exc)
                async with self._conn() as conn:
                    await saga_repo.note_failure(conn, saga, saga.state,
                                                 f"{type(exc).__name__}: {exc}", RETRY_IN_S)
                    return await saga_repo.for_reservation(conn, saga.reservation_id)
            saga = moved
        return saga

    async def _settle_payment(self, saga: SagaRecord,
                              reservation: ReservationRecord) -> SagaRecord:
        """CONFIRMING: asks the gateway to confirm; an unknown outcome is looked up by
        orderId before anything is compensated."""
        order_id = str(saga.reservation_id)
        payment_key = str(saga.data["payment_key"])
        amount = int(saga.data["amount"])
        try:
            approved = await self._gateway.confirm(payment_key, order_id, amount,
                                                   idempotency_key=f"confirm-{order_id}")
        except AlreadyProcessed:
            approved = await self._gateway.get_payment_by_order(order_id)
        except GatewayRefused as exc:
            async with self._conn() as conn, conn.transaction():
                await payments_repo.log(conn, order_id=order_id, kind="confirm", request=None,
                                        response={"code": exc.code, "message": exc.message},
                                        http_status=exc.http_status)
                return await self._fail(conn, saga, exc.code, exc.message, "refused")
        except (GatewayUnknownOutcome, BreakerOpen) as exc:
            try:
                approved = await self._gateway.get_payment_by_order(order_id)
            except GatewayRefused as lookup:
                if lookup.code != "NOT_FOUND_PAYMENT":
                    raise
                if isinstance(exc, BreakerOpen):
                    raise exc from None
                async with self._conn() as conn, conn.transaction():
                    return await self._fail(conn, saga, "PAYMENT_NOT_APPROVED",
                                            "the gateway has no approved payment for this order",
                                            "unknown")
        if approved.status not in (PaymentStatus.DONE, PaymentStatus.ABORTED,
                                   PaymentStatus.EXPIRED, PaymentStatus.CANCELED):
            async with self._conn() as conn:
                await payments_repo.log(conn, order_id=order_id, kind="confirm", request=None,
                                        response=approved.raw, http_status=200)
            raise GatewayUnknownOutcome("PAYMENT_NOT_SETTLED",
                                        f"the payment is {approved.status}")
        async with self._conn() as conn, conn.transaction():
            await payments_repo.log(conn, order_id=order_id, kind="confirm", request=None,
                                    response=approved.raw, http_status=200)
            if approved.status != PaymentStatus.DONE:
                return await self._fail(conn, saga, f"PAYMENT_{approved.status}",
                                        f"the payment is {approved.status}", "refused")
            if approved.total_amount != amount:
                return await self._fail(conn, saga, "AMOUNT_MISMATCH",
                                        "the gateway approved another amount", "refused",
                                        approved=approved)
            await _copy_payment(conn, order_id, approved)
            return await self._move(conn, saga, SagaState.APPROVED, "payment_approved",
                                    {"approved_at": approved.approved_at})

    async def _record_sale(self, saga: SagaRecord,
                           reservation: ReservationRecord) -> SagaRecord:
        """APPROVED: the sale is recorded in PostgreSQL, with its outbox event."""
        async with self._conn() as conn, conn.transaction():
            return await self._record(conn, saga)

    async def _record(self, conn: asyncpg.Connection, saga: SagaRecord) -> SagaRecord:
        try:
            updated = await reservations_repo.transition(conn, saga.reservation_id,
                                                         ReservationStatus.CONFIRMED)
        except InvalidTransition:
            return await self._fail(conn, saga, "RESERVATION_NOT_PENDING",
                                    "the reservation ended before the payment settled",
                                    "late", refund=True)
        await outbox_repo.emit(
            conn, "PaymentCompleted", aggregate_type="reservation",
            aggregate_id=str(saga.reservation_id),
            payload={"reservation_id": str(saga.reservation_id),
                     "event_id": str(updated.event_id), "user_id": str(updated.user_id),
                     "amount": updated.total_amount,
                     "seat_ids": [i.seat_id for i in updated.items if i.seat_id]})
        return await self._move(conn, saga, SagaState.RECORDED, "sale_recorded")

    async def _sell_seats(self, saga: SagaRecord, reservation: ReservationRecord) -> SagaRecord:
        """RECORDED: the shards sell the held seats."""
        seats = await self._seats_for(str(reservation.event_id))
        try:
            await seats.confirm(str(reservation.user_id), hold_id_of(reservation),
                                f"sale:{saga.reservation_id}")
        except HoldAlreadyConfirmed:
            pass
        except HOLD_GONE as exc:
            async with self._conn() as conn, conn.transaction():
                return await self._fail(conn, saga, "HOLD_LOST",
                                        f"the seats were no longer held: {exc}", "late",
                                        refund=True)
        async with self._conn() as conn:  # one statement: no transaction needed
            return await self._move(conn, saga, SagaState.COMPLETED, "seats_sold",
                                    finished=True)

    async def _compensate(self, saga: SagaRecord, reservation: ReservationRecord) -> SagaRecord:
        """COMPENSATING: refunds what was charged, gives the seats back, ends the reservation
        (FAILED, or CANCELLED if it had been confirmed)."""
        order_id = str(saga.reservation_id)
        came_from = SagaState(saga.data.get("failed_in", SagaState.PREPARED))
        refunded = 0
        if came_from in MONEY_MAY_BE_TAKEN or saga.data.get("refund"):
            refunded = await self._refund_payment(order_id, "the purchase failed")
        seats = await self._seats_for(str(reservation.event_id))
        user, hold_id = str(reservation.user_id), hold_id_of(reservation)
        if came_from in SEATS_MAY_BE_SOLD:
            with contextlib.suppress(*HOLD_GONE, SaleNotFound):
                await seats.cancel_sale(user, hold_id, _attempt_key("undo-sale", order_id))
        with contextlib.suppress(*HOLD_GONE, HoldAlreadyConfirmed):
            await seats.release(user, hold_id, _attempt_key("undo-hold", order_id))
        failure = saga.data.get("failure", {})
        async with self._conn() as conn, conn.transaction():
            current = await reservations_repo.get_reservation(conn, saga.reservation_id)
            kind = failure.get("kind")
            ended = {
                ReservationStatus.CONFIRMED: ReservationStatus.CANCELLED,
                ReservationStatus.PENDING: (
                    ReservationStatus.EXPIRED if kind == "expired" else
                    ReservationStatus.CANCELLED if kind == "cancelled" else
                    ReservationStatus.FAILED)}
            if current.status in ended:
                await reservations_repo.transition(conn, saga.reservation_id,
                                                   ended[current.status])
            payment = await payments_repo.find_by_order(conn, order_id)
            if payment is not None and payment.status not in ("CANCELED", "DONE"):
                await payments_repo.record_failure(
                    conn, order_id, status="ABORTED",
                    code=str(failure.get("code", "FAILED")),
                    message=str(failure.get("message", "")))
            if payment is not None:
                await outbox_repo.emit(
                    conn, "PaymentFailed", aggregate_type="reservation", aggregate_id=order_id,
                    payload={"reservation_id": order_id, "event_id": str(current.event_id),
                             "user_id": str(current.user_id), "code": failure.get("code"),
                             "refunded": refunded})
            await emit_reservation_cancelled(conn, current, reason=failure.get("code"),
                                             refunded=refunded)
            return await self._move(conn, saga, SagaState.FAILED, "compensated",
                                    {"refunded": refunded}, finished=True)

    async def _refund(self, saga: SagaRecord, reservation: ReservationRecord) -> SagaRecord:
        """REFUNDING: the buyer cancelled a completed purchase."""
        order_id = str(saga.reservation_id)
        refunded = await self._refund_payment(order_id,
                                              str(saga.data.get("reason", "cancelled")))
        async with self._conn() as conn, conn.transaction():
            current = await reservations_repo.get_reservation(conn, saga.reservation_id)
            # not already, by an attempt that died later
            if current.status != ReservationStatus.CANCELLED:
                await reservations_repo.transition(conn, saga.reservation_id,
                                                   ReservationStatus.CANCELLED)
                await emit_reservation_cancelled(conn, current, reason="refund",
                                                 refunded=refunded)
        seats = await self._seats_for(str(reservation.event_id))
        with contextlib.suppress(*HOLD_GONE, SaleNotFound):
            await seats.cancel_sale(str(reservation.user_id), hold_id_of(reservation),
                                    _attempt_key("refund", order_id))
        async with self._conn() as conn, conn.transaction():
            return await self._move(conn, saga, SagaState.CANCELLED, "refunded",
                                    {"refunded": refunded}, finished=True)

    async def _refund_payment(self, order_id: str, reason: str) -> int:
        """Cancels whatever the gateway holds for the order; the amount refunded (0 when
        nothing was charged). Raises while the gateway cannot say."""
        try:
            current = await self._gateway.get_payment_by_order(order_id)
        except GatewayRefused as exc:
            if exc.code == "NOT_FOUND_PAYMENT":
                return 0
            raise
        if current.status in (PaymentStatus.CANCELED,):
            async with self._conn() as conn:
                await _copy_payment(conn, order_id, current)
            return current.total_amount
        if current.status not in (PaymentStatus.DONE, PaymentStatus.PARTIAL_CANCELED):
            return 0
        try:
            cancelled = await self._gateway.cancel(current.payment_key, reason,
                                                   idempotency_key=f"refund-{order_id}")
        except AlreadyProcessed:
            cancelled = await self._gateway.get_payment_by_order(order_id)
        async with self._conn() as conn, conn.transaction():
            await payments_repo.log(conn, order_id=order_id, kind="cancel", request=None,
                                    response=cancelled.raw, http_status=200)
            await _copy_payment(conn, order_id, cancelled)
        return current.balance_amount

    # ------------------------------------------------------------------ plumbing

    async def _fail(self, conn: asyncpg.Connection, saga: SagaRecord, code: str, message: str,
                    kind: str, *, refund: bool = False,
                    approved: Payment | None = None) -> SagaRecord:
        """Moves the saga to COMPENSATING, in the caller's transaction."""
        if approved is not None:
            await _copy_payment(conn, str(saga.reservation_id), approved)
        return await self._move(
            conn, saga, SagaState.COMPENSATING, "failed",
            {"failure": {"code": code, "message": message, "kind": kind},
             "failed_in": saga.state, "refund": refund or bool(saga.data.get("refund"))})

    async def _move(self, conn: asyncpg.Connection, saga: SagaRecord, to: SagaState,
                    step: str, data: dict[str, Any] | None = None, *,
                    finished: bool = False) -> SagaRecord:
        check_move(saga.state, to)
        return await saga_repo.advance(conn, saga, to, step, data, finished=finished)

    async def _owned(self, conn: asyncpg.Connection, user_id: UUID,
                     reservation_id: UUID) -> ReservationRecord:
        reservation = await reservations_repo.get_reservation(conn, reservation_id)
        if reservation.user_id != user_id:
            raise SagaError("FORBIDDEN", "this reservation belongs to another user",
                                Kind.FORBIDDEN)
        return reservation

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def _conn(self) -> Any:
        """A pooled connection for one short piece of work (never across a call out)."""
        return self._pool.acquire(timeout=self._acquire_timeout_s)

    @contextlib.asynccontextmanager
    async def _leased(self, reservation_id: UUID) -> AsyncIterator[SagaRecord]:
        """The reservation's saga, held by this runner (its lease renewed) until the block
        ends; `IN_FLIGHT` if another runner holds it."""
        owner = uuid.uuid4()
        async with self._conn() as conn:
            saga = await saga_repo.claim(conn, reservation_id, owner=owner,
                                         lease_s=self._lease_s)
            if saga is None:
                if await saga_repo.find_for_reservation(conn, reservation_id) is None:
                    raise SagaError("NOT_PREPARED", "prepare the payment first")
                raise SagaError("IN_FLIGHT", "this order is being processed by another "
                                "request")
        renewal = asyncio.get_running_loop().create_task(self._renew(saga.id, owner))
        try:
            yield saga
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            try:
                async with self._conn() as conn:
                    await saga_repo.release(conn, saga.id, owner=owner)
            except Exception as exc:  # the lease lapses by itself
                log.warning("saga %s: lease not released: %s", saga.id, exc)

    async def _renew(self, saga_id: UUID, owner: UUID) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                async with self._conn() as conn:
                    held = await saga_repo.renew(conn, saga_id, owner=owner,
                                                 lease_s=self._lease_s)
            except Exception as exc:
                log.warning("saga %s: lease not renewed: %s", saga_id, exc)
                continue
            if not held:
                log.warning("saga %s: lease lost to another runner", saga_id)
                return

    async def _answer(self, work: Coroutine[Any, Any, T]) -> T:
        """Runs a request's saga work; past `answer_within_s` the request gets `OutcomePending`
        while the work goes on, holding the saga's lease, until it ends."""
        if self._answer_within_s is None:
            return await work
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._answer_within_s)
        except TimeoutError:
            raise OutcomePending("the payment is taking longer than usual; it goes on and "
                                 "will be settled shortly (GET the payment's status)") from None

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and isinstance(task.exception(), Exception) and not isinstance(
                task.exception(), SagaError):
            log.warning("a saga went on after its answer and failed: %r", task.exception())

    async def _within_answer_time(self, work: Awaitable[T], what: str) -> T:
        """`work` (a call a request waits for), or `UNAVAILABLE` past `answer_within_s`."""
        if self._answer_within_s is None:
            return await work
        try:
            return await asyncio.wait_for(work, self._answer_within_s)
        except TimeoutError:
            raise SagaError("UNAVAILABLE", f"{what} did not answer in time; retry shortly",
                            Kind.UNAVAILABLE) from None


async def _copy_payment(conn: asyncpg.Connection, order_id: str, payment: Payment) -> None:
    approved_at = (datetime.fromisoformat(payment.approved_at)
                   if payment.approved_at else None)
    await payments_repo.record_gateway(
        conn, order_id, status=str(payment.status), payment_key=payment.payment_key,
        method=payment.method, approved_at=approved_at, balance_amount=payment.balance_amount,
        cancel_amount=payment.total_amount - payment.balance_amount, raw=payment.raw)


def _attempt_key(what: str, order_id: str) -> str:
    """A key of its own for each attempt of an undo: undoing twice is harmless, while a key
    reused after a shard restart would replay the first attempt's answer (say, "no such sale")
    even though the restart's reconciliation brought the sale back."""
    return f"{what}:{order_id}:{uuid.uuid4().hex[:12]}"


def _reservation_id(order_id: str) -> UUID:
    try:
        return UUID(order_id)
    except (ValueError, TypeError):
        raise SagaError("NOT_FOUND", f"no order {order_id!r}", Kind.NOT_FOUND) from None

