"""Faults the fake gateway can inject, and the rules that say when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

Operation = Literal["confirm", "cancel", "get", "get_by_order"]

FaultAction = Literal["error", "latency", "timeout", "drop", "duplicate", "lost_reply", "malformed"]
"""What the gateway does instead of a plain reply:

- error: replies `{code, message}` with `status`; nothing is applied.
- latency: waits `delay_s`, then applies the operation and replies.
- timeout: holds the request without applying it, until the client gives up (or `delay_s`, by
  default `TIMEOUT_HOLD_S`), then drops the connection.
- drop: closes the connection without a reply; nothing is applied.
- duplicate: applies the operation twice, as if the request had been delivered twice without
  its idempotency key, and replies with the second result.
- lost_reply: applies the operation, then closes the connection without a reply.
- malformed: applies the operation, then replies 200 with a body that is not JSON."""

TIMEOUT_HOLD_S = 60.0


@dataclass
class Fault:
    """Applies to the next `times` calls of `operation` (every call if `times` is None) that
    match `order_id` and `payment_key` where those are given."""

    operation: Operation
    action: FaultAction
    order_id: str | None = None
    payment_key: str | None = None
    times: int | None = 1
    code: str = "PROVIDER_ERROR"
    message: str = "fault injected by the fake gateway"
    status: int = 500
    delay_s: float = 0.0

    def matches(self, operation: str, order_id: str | None, payment_key: str | None) -> bool:
        return (
            self.operation == operation
            and self.order_id in (None, order_id)
            and self.payment_key in (None, payment_key)
        )

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """From `{operation, action, orderId?, paymentKey?, times?, code?, message?, status?,
        delayS?}`; raises ValueError on anything else."""
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        if data.get("operation") not in get_args(Operation):
            raise ValueError(f"operation must be one of {get_args(Operation)}")
        if data.get("action") not in get_args(FaultAction):
            raise ValueError(f"action must be one of {get_args(FaultAction)}")
        fault = cls(cast(Operation, data["operation"]), cast(FaultAction, data["action"]))
        for name, key, kind in _JSON_FIELDS:
            if key in data:
                value = data[key]
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise ValueError(f"{key} must be {kind}")
                setattr(fault, name, value)
        return fault


_JSON_FIELDS: tuple[tuple[str, str, type | tuple[type, ...]], ...] = (
    ("order_id", "orderId", str),
    ("payment_key", "paymentKey", str),
    ("times", "times", (int, type(None))),
    ("code", "code", str),
    ("message", "message", str),
    ("status", "status", int),
    ("delay_s", "delayS", (int, float)),
)
