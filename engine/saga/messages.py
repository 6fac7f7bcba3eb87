"""The domain events the use cases put in the outbox, each built in one place: consumers (the
dashboard figures, `engine.saga.outbox`) read these payloads, so their fields must not drift
between the paths that end a reservation."""

from __future__ import annotations

from typing import Any

import asyncpg

from engine.store import outbox_repo
from engine.store.records import ReservationRecord


def reservation_cancelled(reservation: ReservationRecord, *, reason: Any,
                          refunded: int) -> dict[str, Any]:
    return {"reservation_id": str(reservation.id), "event_id": str(reservation.event_id),
            "user_id": str(reservation.user_id), "reason": reason, "refunded": refunded}


async def emit_reservation_cancelled(conn: asyncpg.Connection, reservation: ReservationRecord,
                                     *, reason: Any, refunded: int) -> None:
    """In the caller's transaction, beside the reservation's move to its end."""
    await outbox_repo.emit(
        conn, "ReservationCancelled", aggregate_type="reservation",
        aggregate_id=str(reservation.id),
        payload=reservation_cancelled(reservation, reason=reason, refunded=refunded))
