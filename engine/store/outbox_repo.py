"""The transactional outbox: domain events written in the transaction of the change they
announce, relayed later (at least once) to a Redis stream."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from engine.store.queries import load_queries

SQL = load_queries("engine.store", "outbox.sql")

EVENT_TYPES = ("ReservationCreated", "PaymentCompleted", "PaymentFailed",
               "ReservationCancelled", "TicketSoldOut")


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime


def _event(r: Any) -> OutboxEvent:
    payload = r["payload"]
    return OutboxEvent(id=r["id"], aggregate_type=r["aggregate_type"],
                       aggregate_id=r["aggregate_id"], event_type=r["event_type"],
                       payload=json.loads(payload) if isinstance(payload, str) else dict(payload),
                       created_at=r["created_at"])


async def emit(conn: asyncpg.Connection, event_type: str, *, aggregate_type: str,
               aggregate_id: str, payload: dict[str, Any]) -> int:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return int(await SQL.emit.fetchval(
        conn, aggregate_type=aggregate_type, aggregate_id=aggregate_id, event_type=event_type,
        payload=json.dumps(payload, default=str)))


async def claim(conn: asyncpg.Connection, *, limit: int = 500) -> list[OutboxEvent]:
    """Unpublished events, oldest first, locked for this transaction (other relays skip
    them). Call inside a transaction and `mark_published` before it commits."""
    rows = await SQL.claim.fetch(conn, limit=limit)
    return [_event(r) for r in rows]


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    await SQL.mark_published.execute(conn, ids=ids)


async def events_of(conn: asyncpg.Connection, aggregate_id: str) -> list[OutboxEvent]:
    rows = await SQL.events_of.fetch(conn, aggregate_id=aggregate_id)
    return [_event(r) for r in rows]
