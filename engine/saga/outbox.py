"""Relays the outbox to a Redis stream (at least once), and the consumers that read it: the
dashboard figures (counted once per outbox row, in PostgreSQL) and the catalogue cache
(invalidated on TicketSoldOut; invalidating twice is harmless)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import asyncpg
from redis.exceptions import ResponseError

from engine.store import outbox_repo
from engine.store.queries import load_queries
from engine.store.redis_client import RedisClient

log = logging.getLogger(__name__)
SQL = load_queries("engine.saga", "figures.sql")

Replies = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


def stream_key(namespace: str) -> str:
    return f"{namespace}:domain-events"


async def relay_once(pool: asyncpg.Pool, redis: RedisClient, namespace: str, *,
                     limit: int = 500) -> int:
    """Publishes unpublished outbox rows; how many. A crash after the XADD and before the
    commit publishes them again (consumers are idempotent)."""
    async with pool.acquire() as conn, conn.transaction():
        events = await outbox_repo.claim(conn, limit=limit)
        if not events:
            return 0
        async with redis.pipeline(transaction=False) as pipe:
            for e in events:
                pipe.xadd(stream_key(namespace), {
                    "id": str(e.id), "type": e.event_type, "aggregate": e.aggregate_id,
                    "payload": json.dumps(e.payload, default=str)},
                    maxlen=1_000_000, approximate=True)
            await pipe.execute()
        await outbox_repo.mark_published(conn, [e.id for e in events])
        return len(events)


Handler = Callable[[int, str, dict[str, Any]], Awaitable[None]]


async def consume_once(redis: RedisClient, namespace: str, group: str, consumer: str,
                       handle: Handler, *, block_ms: int = 1_000, count: int = 200) -> int:
    """Reads new messages of the group (and this consumer's unacknowledged ones first),
    handles them, acknowledges each after its handler returned."""
    key = stream_key(namespace)
    with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
        await redis.xgroup_create(key, group, id="0", mkstream=True)
    handled = 0
    for start in ("0", ">"):
        replies = cast(Replies, await redis.xreadgroup(
            group, consumer, {key: start}, count=count,
            block=None if start == "0" else block_ms))
        done: list[Any] = []
        try:
            for _, messages in replies or []:
                for message_id, fields in messages:
                    if fields:
                        await handle(int(fields[b"id"]), fields[b"type"].decode(),
                                     json.loads(fields[b"payload"]))
                        handled += 1
                    done.append(message_id)
        finally:
            if done:  # the handled ones, in one call
                await redis.xack(key, group, *done)
    return handled


COUNTERS = ("reservations_created", "payments_completed", "payments_failed",
            "reservations_cancelled", "revenue", "refunded")
FIGURES: dict[str, tuple[str | None, tuple[str, str] | None]] = {
    # event type: (the counter it adds one to, (the payload's amount, the sum it adds to))
    "ReservationCreated": ("reservations_created", None),
    "PaymentCompleted": ("payments_completed", ("amount", "revenue")),
    "PaymentFailed": ("payments_failed", None),
    "ReservationCancelled": ("reservations_cancelled", ("refunded", "refunded")),
    "TicketSoldOut": (None, None),  # stamps sold_out_at
}


def figures_handler(pool: asyncpg.Pool) -> Handler:
    """Counts each outbox row once into `event_figures`, in one statement per row."""

    async def handle(outbox_id: int, event_type: str, payload: dict[str, Any]) -> None:
        event_id = payload.get("event_id")
        if event_id is None or event_type not in FIGURES:
            return
        counter, money = FIGURES[event_type]
        counts = dict.fromkeys(COUNTERS, 0)
        if counter is not None:
            counts[counter] = 1
        if money is not None:
            counts[money[1]] = int(payload.get(money[0]) or 0)
        async with pool.acquire() as conn:
            await SQL.count_once.execute(conn, outbox_id=outbox_id, event_id=event_id,
                                         sold_out=event_type == "TicketSoldOut", **counts)

    return handle


def cache_handler(invalidate: Callable[[], Awaitable[Any]]) -> Handler:
    async def handle(outbox_id: int, event_type: str, payload: dict[str, Any]) -> None:
        if event_type == "TicketSoldOut":
            await invalidate()

    return handle
