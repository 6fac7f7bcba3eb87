"""Payment service: prepare a pending reservation's payment, confirm it with the gateway (the
purchase saga sells the seats), cancel (refund) it, and read its status. Amounts always come
from the server's prices. The use cases are the purchase saga's (`engine.saga.purchase`); the
replicas also run its recovery worker, the outbox relay and the outbox consumers, which
`engine.serve.payment_workers` starts."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.context import ApiContext
from api.errors import ApiError, NotFound
from api.idempotency import idempotent
from api.routing import Call, Endpoint, path_uuid
from api.schemas import Schema
from engine.saga.purchase import PurchaseSaga
from engine.store import payments_repo, reservations_repo, saga_repo
from engine.store.payments_repo import PaymentRecord
from engine.store.records import ReservationRecord

PREFIX = "/api/v1/payments"
IDEMPOTENCY = ("Idempotency-Key", "Retries with the same key and body get the first response",
               False)


class PrepareIn(Schema):
    reservation_id: UUID


class ConfirmIn(Schema):
    payment_key: str = Field(min_length=1, max_length=200)
    order_id: str = Field(min_length=1, max_length=64)
    amount: int = Field(ge=0)


class CancelIn(Schema):
    order_id: str = Field(min_length=1, max_length=64)
    cancel_reason: str = Field(min_length=1, max_length=200)


class PaymentOut(Schema):
    payment_id: str
    order_id: str
    order_name: str
    amount: int
    currency: str = "KRW"
    status: str
    payment_key: str | None
    method: str | None
    approved_at: datetime | None
    cancel_amount: int
    customer_key: str
    client_key: str = Field(description="For the buyer's payment widget")
    failure_code: str | None
    failure_message: str | None


class PurchaseOut(Schema):
    payment: PaymentOut
    reservation_id: str
    reservation_status: str
    saga_state: str | None = None


def _saga(ctx: ApiContext) -> PurchaseSaga:
    saga = ctx.saga
    if saga is None:
        raise ApiError("no payment gateway is configured", status=503,
                       code="PAYMENTS_UNAVAILABLE")
    return saga


def payment_out(ctx: ApiContext, p: PaymentRecord) -> PaymentOut:
    return PaymentOut(
        payment_id=str(p.id), order_id=p.order_id, order_name=f"TIKETI {p.order_id[:8]}",
        amount=p.amount, status=p.status, payment_key=p.payment_key, method=p.method,
        approved_at=p.approved_at, cancel_amount=p.cancel_amount,
        customer_key=str(p.user_id) if p.user_id else "",
        client_key=ctx.settings.payments.client_key, failure_code=p.failure_code,
        failure_message=p.failure_message)


def purchase_out(ctx: ApiContext, r: ReservationRecord, p: PaymentRecord,
                 saga_state: str | None = None) -> PurchaseOut:
    return PurchaseOut(payment=payment_out(ctx, p), reservation_id=str(r.id),
                       reservation_status=r.status, saga_state=saga_state)


async def prepare(call: Call[ApiContext, PrepareIn]) -> BaseModel | Response:
    body = call.body

    async def run() -> BaseModel:
        payment = await _saga(call.ctx).prepare(UUID(call.caller.user_id), body.reservation_id)
        return payment_out(call.ctx, payment)

    return await idempotent(call, "payments.prepare", 201, run)


async def confirm(call: Call[ApiContext, ConfirmIn]) -> BaseModel | Response:
    body = call.body

    async def run() -> BaseModel:
        reservation, payment = await _saga(call.ctx).confirm(
            UUID(call.caller.user_id), body.order_id, body.payment_key, body.amount)
        return purchase_out(call.ctx, reservation, payment, "COMPLETED")

    return await idempotent(call, "payments.confirm", 200, run)


async def cancel(call: Call[ApiContext, CancelIn]) -> BaseModel | Response:
    body = call.body
    user = None if call.caller.role == "admin" else UUID(call.caller.user_id)

    async def run() -> BaseModel:
        reservation, payment = await _saga(call.ctx).refund(user, body.order_id,
                                                           body.cancel_reason)
        return purchase_out(call.ctx, reservation, payment)

    return await idempotent(call, "payments.cancel", 200, run)


async def status(call: Call[ApiContext]) -> PurchaseOut:
    """By payment id or order id (the reservation id)."""
    some_id = path_uuid(call, "payment_id", "payment")
    async with call.ctx.db.acquire() as conn:
        payment = await payments_repo.find_by_order(conn, str(some_id))
        if payment is None:
            payment = await payments_repo.get(conn, some_id)
        if str(payment.user_id) != call.caller.user_id and call.caller.role != "admin":
            raise NotFound(f"no payment {some_id}")
        reservation = await reservations_repo.get_reservation(conn, payment.reservation_id)
        saga = await saga_repo.find_for_reservation(conn, payment.reservation_id)
    return purchase_out(call.ctx, reservation, payment, saga.state if saga else None)


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", f"{PREFIX}/prepare", prepare,
             "Open the payment of your pending reservation (orderId = reservation id; the "
             "amount comes from the server's prices)", "payments", body=PrepareIn,
             response=PaymentOut, status=201, errors=(403, 404, 409), headers=(IDEMPOTENCY,)),
    Endpoint("POST", f"{PREFIX}/confirm", confirm,
             "Confirm the payment with the gateway; the seats are sold", "payments",
             body=ConfirmIn, response=PurchaseOut, errors=(403, 404, 409, 503),
             headers=(IDEMPOTENCY,)),
    Endpoint("POST", f"{PREFIX}/cancel", cancel,
             "Cancel a purchase: the payment is refunded and the seats go back on sale",
             "payments", body=CancelIn, response=PurchaseOut, errors=(403, 404, 409, 503),
             headers=(IDEMPOTENCY,)),
    Endpoint("GET", f"{PREFIX}/{{payment_id}}/status", status,
             "A payment's status (by payment id or order id), with its reservation's",
             "payments", response=PurchaseOut, errors=(404,)),
]
