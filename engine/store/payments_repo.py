"""Payments (one per reservation, its order id the reservation id) and their gateway log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from engine.store.errors import NotFound
from engine.store.queries import load_queries

SQL = load_queries("engine.store", "payments.sql")

REFUNDED_STATUSES = ("CANCELED",)


@dataclass(frozen=True)
class PaymentRecord:
    id: UUID
    reservation_id: UUID
    user_id: UUID | None
    order_id: str
    payment_key: str | None
    amount: int
    status: str
    method: str | None
    approved_at: datetime | None
    balance_amount: int | None
    cancel_amount: int
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime


def _record(row: Any) -> PaymentRecord:
    return PaymentRecord(
        id=row["id"], reservation_id=row["reservation_id"], user_id=row["user_id"],
        order_id=row["order_id"], payment_key=row["payment_key"], amount=row["amount"],
        status=row["status"], method=row["method"], approved_at=row["approved_at"],
        balance_amount=row["balance_amount"], cancel_amount=row["cancel_amount"],
        failure_code=row["failure_code"], failure_message=row["failure_message"],
        created_at=row["created_at"], updated_at=row["updated_at"])


async def prepare(conn: asyncpg.Connection, *, reservation_id: UUID, user_id: UUID,
                  amount: int) -> PaymentRecord:
    """The reservation's payment, READY, created once (the order id is the reservation id)."""
    row = await SQL.prepare.fetchrow(conn, reservation_id=reservation_id, user_id=user_id,
                                     order_id=str(reservation_id), amount=amount)
    if row is None:
        return await by_order(conn, str(reservation_id))
    return _record(row)


async def by_order(conn: asyncpg.Connection, order_id: str) -> PaymentRecord:
    payment = await find_by_order(conn, order_id)
    if payment is None:
        raise NotFound(f"no payment for order {order_id}")
    return payment


async def find_by_order(conn: asyncpg.Connection, order_id: str) -> PaymentRecord | None:
    row = await SQL.by_order.fetchrow(conn, order_id=order_id)
    return None if row is None else _record(row)


async def get(conn: asyncpg.Connection, payment_id: UUID) -> PaymentRecord:
    row = await SQL.get.fetchrow(conn, id=payment_id)
    if row is None:
        raise NotFound(f"no payment {payment_id}")
    return _record(row)


async def set_key(conn: asyncpg.Connection, order_id: str, payment_key: str) -> PaymentRecord:
    """Records the payment key the buyer's checkout produced, moving READY to IN_PROGRESS."""
    row = await SQL.set_key.fetchrow(conn, order_id=order_id, payment_key=payment_key)
    if row is None:
        raise NotFound(f"no payment for order {order_id}")
    return _record(row)


async def record_gateway(conn: asyncpg.Connection, order_id: str, *, status: str,
                         payment_key: str | None, method: str | None,
                         approved_at: datetime | None, balance_amount: int | None,
                         cancel_amount: int, raw: dict[str, Any]) -> PaymentRecord:
    """Copies the gateway's view of the payment (DONE, CANCELED, ...)."""
    row = await SQL.record_gateway.fetchrow(
        conn, order_id=order_id, status=status, payment_key=payment_key, method=method,
        approved_at=approved_at, balance_amount=balance_amount, cancel_amount=cancel_amount,
        raw=json.dumps(raw, default=str))
    if row is None:
        raise NotFound(f"no payment for order {order_id}")
    return _record(row)


async def record_failure(conn: asyncpg.Connection, order_id: str, *, status: str, code: str,
                         message: str) -> PaymentRecord:
    row = await SQL.record_failure.fetchrow(conn, order_id=order_id, status=status, code=code,
                                            message=message[:1000])
    if row is None:
        raise NotFound(f"no payment for order {order_id}")
    return _record(row)


async def log(conn: asyncpg.Connection, *, order_id: str, kind: str,
              request: dict[str, Any] | None, response: dict[str, Any] | None,
              http_status: int | None, payment_id: UUID | None = None) -> None:
    await SQL.log.execute(
        conn, payment_id=payment_id, order_id=order_id, kind=kind,
        request=None if request is None else json.dumps(request, default=str),
        response=None if response is None else json.dumps(response, default=str),
        http_status=http_status)
