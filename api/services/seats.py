"""Reservation service, seat locks: named seats, the best N available, or standing tickets,
held for the event's hold TTL. Only admitted users may lock: the event's access token (issued
on admission) is checked here, without asking the queue."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError, model_validator
from starlette.responses import Response

from api.context import ApiContext
from api.errors import ApiError
from api.routing import Call, Endpoint, header
from api.schemas import IdempotencyKey, Schema
from api.security.tokens import EVENT_ACCESS, Claims, InvalidToken
from engine.core.inventory import HoldView

PREFIX = "/api/v1/seats"
ACCESS_HEADER = b"x-event-access-token"
IDEMPOTENCY_HEADER = b"idempotency-key"

_IDEMPOTENCY_KEY: TypeAdapter[str] = TypeAdapter(IdempotencyKey)
_AUTO_KEYS = os.urandom(12).hex()
_auto_numbers = itertools.count()

SeatId = Annotated[str, StringConstraints(min_length=1, max_length=60)]


class LockIn(Schema):
    event_id: UUID
    seat_ids: list[SeatId] | None = Field(None, min_length=1, max_length=10)
    count: int | None = Field(None, ge=1, le=10, description="Best available: how many")
    section: str | None = Field(None, max_length=40)
    grade: str | None = Field(None, max_length=20)
    ticket_type_id: str | None = Field(None, max_length=40)
    quantity: int | None = Field(None, ge=1, le=10)

    @model_validator(mode="after")
    def _one_kind(self) -> LockIn:
        kinds = [self.seat_ids is not None, self.count is not None,
                 self.ticket_type_id is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of seatIds, count, or ticketTypeId")
        if (self.section or self.grade) and self.count is None:
            raise ValueError("section and grade filter best-available (count) locks only")
        if (self.ticket_type_id is None) != (self.quantity is None):
            raise ValueError("ticketTypeId and quantity go together")
        return self


class TicketCount(Schema):
    ticket_type_id: str
    quantity: int


class HoldOut(Schema):
    hold_id: str
    event_id: str
    status: str
    seat_ids: list[str]
    tickets: list[TicketCount]
    amount: int
    currency: str = "KRW"
    created_at: datetime
    expires_at: datetime
    extensions: int


def hold_json(event_id: str, view: HoldView) -> bytes:
    """`HoldOut`'s JSON, as pydantic writes it, without building the model (a lock's answer
    is on the hot path; `HoldOut` documents it, and a test holds the two to the same bytes)."""
    return json.dumps({
        "holdId": view.hold_id, "eventId": event_id, "status": view.status,
        "seatIds": list(view.seat_ids),
        "tickets": [{"ticketTypeId": t, "quantity": q} for t, q in view.ga],
        "amount": view.amount, "currency": "KRW", "createdAt": _utc(view.created_at),
        "expiresAt": _utc(view.expires_at), "extensions": view.extensions,
    }, separators=(",", ":"), ensure_ascii=False).encode()


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def require_admission(call: Call[ApiContext, object], event_id: str) -> Claims:
    """The caller's event access token, checked: issued for this event and this user."""
    token = header(call.request, ACCESS_HEADER)
    if not token:
        raise ApiError("join the queue: seats can be locked once you are admitted",
                       status=403, code="NOT_ADMITTED")
    try:
        claims = call.ctx.verify(token, typ=EVENT_ACCESS, audience=f"event:{event_id}")
    except InvalidToken as exc:
        code = "ACCESS_EXPIRED" if exc.code == "TOKEN_EXPIRED" else "ACCESS_INVALID"
        raise ApiError(f"the event access token is not valid: {exc}", status=403,
                       code=code) from None
    if claims.user_id != call.caller.user_id:
        raise ApiError("the event access token belongs to another user", status=403,
                       code="ACCESS_INVALID")
    return claims


def idempotency_key(call: Call[ApiContext, object]) -> str:
    key = header(call.request, IDEMPOTENCY_HEADER)
    if key is None:  # a key no other request can have: this process's, numbered
        return f"auto:{_AUTO_KEYS}.{next(_auto_numbers)}"
    try:
        return _IDEMPOTENCY_KEY.validate_python(key)
    except ValidationError:
        raise ApiError("Idempotency-Key must have 1 to 200 characters", status=422,
                       code="VALIDATION_FAILED") from None


async def lock(call: Call[ApiContext, LockIn]) -> Response:
    body = call.body
    event_id = str(body.event_id)
    require_admission(call, event_id)
    key = idempotency_key(call)
    user = call.caller.user_id
    seats = await call.ctx.engine.seats(event_id)
    view: HoldView
    if body.seat_ids is not None:
        view = await seats.hold(user, body.seat_ids, key)
    elif body.count is not None:
        view = await seats.hold_best(user, body.count, key, body.section, body.grade)
    else:
        assert body.ticket_type_id is not None and body.quantity is not None
        view = await seats.hold_ga(user, body.ticket_type_id, body.quantity, key)
    return Response(hold_json(event_id, view), status_code=201, media_type="application/json")


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", f"{PREFIX}/lock", lock,
             "Lock seats (named, best available, or standing) for the hold TTL", "reservations",
             body=LockIn, response=HoldOut, status=201, errors=(403, 404, 409),
             headers=(("X-Event-Access-Token", "The access token issued on admission", True),
                      ("Idempotency-Key", "Retries with the same key return the same hold",
                       False, IdempotencyKey))),
]

