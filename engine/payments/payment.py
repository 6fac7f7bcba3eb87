"""The gateway's Payment object (Toss Payments API v1), as the engine reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PaymentStatus(StrEnum):
    READY = "READY"
    IN_PROGRESS = "IN_PROGRESS"
    WAITING_FOR_DEPOSIT = "WAITING_FOR_DEPOSIT"
    DONE = "DONE"
    CANCELED = "CANCELED"
    PARTIAL_CANCELED = "PARTIAL_CANCELED"
    ABORTED = "ABORTED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Cancel:
    cancel_amount: int
    canceled_at: str
    reason: str
    transaction_key: str


@dataclass(frozen=True)
class Payment:
    payment_key: str
    order_id: str
    status: PaymentStatus
    total_amount: int
    balance_amount: int
    method: str | None
    approved_at: str | None
    requested_at: str
    cancels: tuple[Cancel, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)


def parse_payment(raw: object) -> Payment:
    """Raises ValueError if `raw` is not a Payment object."""
    if not isinstance(raw, dict):
        raise ValueError("a Payment must be a JSON object")
    try:
        return Payment(
            payment_key=_str(raw["paymentKey"]),
            order_id=_str(raw["orderId"]),
            status=PaymentStatus(raw["status"]),
            total_amount=_int(raw["totalAmount"]),
            balance_amount=_int(raw["balanceAmount"]),
            method=_optional_str(raw.get("method")),
            approved_at=_optional_str(raw.get("approvedAt")),
            requested_at=_str(raw["requestedAt"]),
            cancels=tuple(_cancel(item) for item in raw.get("cancels") or ()),
            raw=raw,
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a Payment object: {error!r}") from error


def _cancel(raw: Any) -> Cancel:
    return Cancel(
        cancel_amount=_int(raw["cancelAmount"]),
        canceled_at=_str(raw["canceledAt"]),
        reason=_str(raw["cancelReason"]),
        transaction_key=_str(raw["transactionKey"]),
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _optional_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
