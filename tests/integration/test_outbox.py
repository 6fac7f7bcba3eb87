"""The outbox on the real PostgreSQL and Redis: events exist only if their transaction commits,
the relay publishes each at least once, and the consumers count each once however often it is
delivered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from engine.saga import outbox
from engine.store import outbox_repo
from engine.store.pool import create_pool
from tests.integration import test_shard_services as shard_tests

make_event = shard_tests.make_event


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def namespace() -> str:
    return f"outbox{uuid.uuid4().hex[:8]}"


async def _published(redis: aioredis.Redis, namespace: str) -> list[tuple[int, str]]:
    entries = await redis.xrange(outbox.stream_key(namespace))
    return [(int(f[b"id"]), f[b"type"].decode()) for _, f in entries]


async def _drain(pool: asyncpg.Pool, redis: aioredis.Redis, namespace: str) -> None:
    while await outbox.relay_once(pool, redis, namespace):
        pass


async def test_an_event_exists_only_if_its_transaction_commits(
        pool: asyncpg.Pool, redis_client: aioredis.Redis, namespace: str) -> None:
    aggregate = str(uuid.uuid4())

    async def change_that_fails(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await outbox_repo.emit(conn, "ReservationCreated", aggregate_type="reservation",
                                   aggregate_id=aggregate, payload={})
            raise RuntimeError("the state change failed")

    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="state change failed"):
            await change_that_fails(conn)
        assert await outbox_repo.events_of(conn, aggregate) == []
        with pytest.raises(ValueError, match="unknown event type"):
            await outbox_repo.emit(conn, "SomethingElse", aggregate_type="x",
                                   aggregate_id=aggregate, payload={})


async def test_relayed_once_then_figures_counted_once_despite_a_redelivery(
        pool: asyncpg.Pool, redis_client: aioredis.Redis, namespace: str,
        make_event: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    event = await make_event()
    event_id = str(event.id)
    async with pool.acquire() as conn, conn.transaction():
        await outbox_repo.emit(conn, "ReservationCreated", aggregate_type="reservation",
                               aggregate_id="r1", payload={"event_id": event_id, "amount": 9})
        await outbox_repo.emit(conn, "PaymentCompleted", aggregate_type="reservation",
                               aggregate_id="r1", payload={"event_id": event_id, "amount": 9})

    # The relay dies after publishing and before recording it: the events go out again.
    original = outbox_repo.mark_published

    async def crash(conn: asyncpg.Connection, ids: list[int]) -> None:
        raise ConnectionError("the relay died")

    monkeypatch.setattr(outbox_repo, "mark_published", crash)
    with pytest.raises(ConnectionError):
        await outbox.relay_once(pool, redis_client, namespace)
    monkeypatch.setattr(outbox_repo, "mark_published", original)
    await _drain(pool, redis_client, namespace)
    published = await _published(redis_client, namespace)
    mine = [p for p in published if p[1] in ("ReservationCreated", "PaymentCompleted")]
    assert len(mine) >= 4  # at least once: each twice here
    assert await outbox.relay_once(pool, redis_client, namespace) == 0  # now marked

    handle = outbox.figures_handler(pool)
    while await outbox.consume_once(redis_client, namespace, "figures", "c1", handle,
                                    block_ms=10):
        pass
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM event_figures WHERE event_id = $1", event.id)
    assert row is not None
    assert (row["reservations_created"], row["payments_completed"], row["revenue"]) == (1, 1, 9)


async def test_ticket_sold_out_invalidates_the_catalogue_cache(
        pool: asyncpg.Pool, redis_client: aioredis.Redis, namespace: str,
        make_event: Callable[..., Any]) -> None:
    event = await make_event()
    async with pool.acquire() as conn:
        await outbox_repo.emit(conn, "TicketSoldOut", aggregate_type="event",
                               aggregate_id=str(event.id), payload={"event_id": str(event.id)})
    await _drain(pool, redis_client, namespace)
    invalidations: list[int] = []

    async def invalidate() -> None:
        invalidations.append(1)

    handle = outbox.cache_handler(invalidate)
    while await outbox.consume_once(redis_client, namespace, "catalog-cache", "c1", handle,
                                    block_ms=10):
        pass
    assert invalidations == [1]
    figures = outbox.figures_handler(pool)
    while await outbox.consume_once(redis_client, namespace, "figures", "c1", figures,
                                    block_ms=10):
        pass
    async with pool.acquire() as conn:
        sold_out_at = await conn.fetchval(
            "SELECT sold_out_at FROM event_figures WHERE event_id = $1", event.id)
    assert sold_out_at is not None


async def test_the_figures_count_every_kind_of_event_once(
        pool: asyncpg.Pool, make_event: Callable[..., Any]) -> None:
    event = await make_event()
    handle = outbox.figures_handler(pool)
    ids = iter(range(-1, -100, -1))  # outbox ids of their own: no relay runs here

    async def deliver(event_type: str, times: int = 1, **payload: Any) -> None:
        outbox_id = next(ids)
        for _ in range(times):
            await handle(outbox_id, event_type, {"event_id": str(event.id), **payload})

    async def figures() -> dict[str, Any]:
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM event_figures WHERE event_id = $1",
                                      event.id)
        return {} if row is None else dict(row)

    await handle(next(ids), "ReservationCreated", {})  # no event: nothing to count
    await deliver("SomethingElse")
    assert await figures() == {}
    await deliver("ReservationCreated", times=2, amount=7)
    await deliver("PaymentCompleted", times=3, amount=9_000)
    await deliver("PaymentFailed", amount=5)
    await deliver("ReservationCancelled", refunded=4_000)
    await deliver("ReservationCancelled")
    counted = await figures()
    assert {k: counted[k] for k in outbox.COUNTERS} == {
        "reservations_created": 1, "payments_completed": 1, "payments_failed": 1,
        "reservations_cancelled": 2, "revenue": 9_000, "refunded": 4_000}
    assert counted["sold_out_at"] is None

    await deliver("TicketSoldOut", times=2)
    first = (await figures())["sold_out_at"]
    await deliver("TicketSoldOut")
    assert first is not None and (await figures())["sold_out_at"] == first
    assert {k: (await figures())[k] for k in outbox.COUNTERS} == {
        k: counted[k] for k in outbox.COUNTERS}
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM consumed_events WHERE outbox_id < 0")
