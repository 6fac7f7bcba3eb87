"""`tiketi audit` on the real PostgreSQL and Redis: seat shards run as plain services (no Ray)
to leave their durable state in Redis, then the audit rebuilds it offline and compares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
import redis.asyncio as aioredis

from engine.actors.config import ShardConfig
from engine.actors.services import SeatShardService
from engine.audit import checks
from engine.audit.checks import AuditResult, audit
from engine.audit.command import UnknownEvent, run_audit
from engine.audit.sources import read_input
from engine.core.commands import CancelSale, Confirm, Hold, HoldBest
from engine.core.inventory import HoldView
from engine.local.redis_server import EmbeddedRedis
from engine.store import reservations_repo
from engine.store.pool import connect
from engine.store.records import EventRecord, ItemSpec, UserRecord
from tests.integration import test_shard_services as shard_tests
from tests.integration.test_shard_services import Services
from tests.sales import new_user, sell

# The shard tests' fixtures: events, shard configs (namespace "itest"), started services.
make_event = shard_tests.make_event
config = shard_tests.config
services = shard_tests.services
NAMESPACE = "itest"


async def pay(
    conn: asyncpg.Connection, reservation_id: UUID, amount: int, status: str = "DONE",
    balance: int | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO payments (reservation_id, order_id, amount, status, balance_amount) "
        "VALUES ($1, $2, $3, $4, $5)",
        reservation_id, f"order-{uuid4().hex}", amount, status, balance)


async def reservation_of(conn: asyncpg.Connection, hold_id: str) -> tuple[UUID, int]:
    row = await conn.fetchrow(
        "SELECT r.id, r.total_amount FROM reservations r JOIN reservation_items i "
        "ON i.reservation_id = r.id WHERE i.hold_id = $1 LIMIT 1", hold_id)
    assert row is not None
    return row["id"], row["total_amount"]


async def hold(shard: SeatShardService, user: str, key: str, count: int = 1) -> HoldView:
    (view,) = await shard.submit([HoldBest(user, count, key)])
    assert isinstance(view, HoldView), view
    return view


async def buy(
    conn: asyncpg.Connection, shard: SeatShardService, event: EventRecord, name: str, *,
    paid: bool = True,
) -> HoldView:
    """The whole purchase: hold, pending reservation, shard confirm, CONFIRMED, payment."""
    user = await new_user(conn, name)
    view = await hold(shard, user, f"hold-{name}")
    sold = await sell(conn, event_id=event.id, view=view, shard=shard.config.shard,
                      confirm=lambda: shard.submit([Confirm(user, view.hold_id, "c")]))
    assert sold[0].status == "sold"
    if paid:
        reservation_id, total = await reservation_of(conn, view.hold_id)
        await pay(conn, reservation_id, total, balance=total)
    return view


async def stopped(services: Services) -> None:
    """Stops every shard, leaving only its durable state in Redis."""
    for service in services.started:
        await service.close()
    services.started.clear()


async def redis_dump(client: aioredis.Redis, event: EventRecord) -> dict[bytes, Any]:
    keys = sorted([k async for k in client.scan_iter(match=f"{NAMESPACE}:{{{event.id}*")])
    return {k: await client.dump(k) for k in keys}


async def audit_of(database: str, redis_server: EmbeddedRedis, event: EventRecord,
                   **kw: Any) -> AuditResult:
    return await run_audit(database, redis_server.url, NAMESPACE, event.id, **kw)


def kinds(result: AuditResult) -> list[str]:
    return [v.kind for v in result.violations]


async def test_a_clean_event_passes_and_the_audit_writes_nothing(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig],
    services: Services, database: str, redis_server: EmbeddedRedis,
    redis_client: aioredis.Redis,
) -> None:
    event = await make_event(shard_count=2)
    shards = [await services.seats(config(event, k, snapshot_every_ops=3)) for k in (0, 1)]
    conn = await connect(database)
    try:
        for i in range(4):
            await buy(conn, shards[i % 2], event, f"buyer{i}")
        live = await hold(shards[0], await new_user(conn, "holder"), "live")
        refunded = await buy(conn, shards[1], event, "refunded", paid=False)
        reservation_id, total = await reservation_of(conn, refunded.hold_id)
        await reservations_repo.transition(conn, reservation_id, "CANCELLED")
        await shards[1].submit([CancelSale(refunded.user_id, refunded.hold_id, "x")])
        await pay(conn, reservation_id, total, status="CANCELED", balance=0)
    finally:
        await conn.close()
    await stopped(services)
    before = await redis_dump(redis_client, event)

    result = await audit_of(database, redis_server, event)
    assert result.ok, result.violations
    s = result.summary
    assert (s["confirmed_seats_db"], s["sold_seats_shards"], s["live_holds"]) == (4, 4, 1)
    assert [(x["sold_seats"], x["confirmed_seats_db"], x["live_holds"]) for x in s["shards"]] \
        == [(2, 2, 1), (2, 2, 0)]
    assert s["shards"][0]["snapshot_seq"] > 0, "rebuilt from a snapshot plus the journal"
    assert s["reservations"] == {"CANCELLED": 1, "CONFIRMED": 4}
    assert live.expires_at > result.audited_at
    assert await redis_dump(redis_client, event) == before, "the audit wrote to Redis"


async def test_a_confirmed_reservation_without_a_payment(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig],
    services: Services, database: str, redis_server: EmbeddedRedis,
) -> None:
    event = await make_event()
    shard = await services.seats(config(event))
    conn = await connect(database)
    try:
        view = await buy(conn, shard, event, "unpaid", paid=False)
        reservation_id, total = await reservation_of(conn, view.hold_id)
        await pay(conn, reservation_id, total - 1, balance=total - 1)
    finally:
        await conn.close()
    await stopped(services)

    result = await audit_of(database, redis_server, event)
    assert kinds(result) == [checks.CONFIRMED_WITHOUT_PAYMENT]
    assert str(reservation_id) in result.violations[0].detail


async def test_a_payment_kept_for_a_failed_reservation(
    make_event: Callable[..., Any], database: str, redis_server: EmbeddedRedis,
) -> None:
    event = await make_event()
    conn = await connect(database)
    try:
        user = await new_user(conn, "charged")
        reservation = await reservations_repo.create_pending(
            conn, user_id=UUID(user), event_id=event.id,
            items=[ItemSpec(shard=0, hold_id="0.gone", price=90_000, seat_id="B-1-1")],
            expires_at=datetime.now(UTC) + timedelta(minutes=5))
        await reservations_repo.transition(conn, reservation.id, "FAILED")
        await pay(conn, reservation.id, 90_000, balance=90_000)
    finally:
        await conn.close()

    result = await audit_of(database, redis_server, event)
    assert kinds(result) == [checks.PAYMENT_WITHOUT_SALE]
    assert "FAILED" in result.violations[0].detail


async def test_a_seat_sold_in_the_shard_that_postgres_does_not_have(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig],
    services: Services, database: str, redis_server: EmbeddedRedis,
) -> None:
    event = await make_event()
    shard = await services.seats(config(event))
    (ghost,) = await shard.submit([Hold("someone", ["A-1-1"], "g")])
    await shard.submit([Confirm("someone", ghost.hold_id, "g2")])
    await stopped(services)

    result = await audit_of(database, redis_server, event)
    assert kinds(result) == [checks.SHARD_SOLD_NOT_IN_DB]
    assert "A-1-1" in result.violations[0].detail


async def test_a_seat_postgres_confirmed_that_the_shard_has_not_sold(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig],
    services: Services, database: str, redis_server: EmbeddedRedis,
) -> None:
    event = await make_event()
    await services.seats(config(event))
    await stopped(services)
    conn = await connect(database)
    try:
        user = await new_user(conn, "dbonly")
        reservation = await reservations_repo.create_pending(
            conn, user_id=UUID(user), event_id=event.id,
            items=[ItemSpec(shard=0, hold_id="0.fromdb", price=90_000, seat_id="B-1-1")],
            expires_at=datetime.now(UTC) + timedelta(minutes=5))
        await reservations_repo.transition(conn, reservation.id, "CONFIRMED")
        await pay(conn, reservation.id, 90_000, balance=90_000)
    finally:
        await conn.close()

    result = await audit_of(database, redis_server, event)
    assert kinds(result) == [checks.DB_SOLD_NOT_IN_SHARD]
    assert "B-1-1" in result.violations[0].detail


async def test_a_hold_alive_past_its_expiry_and_the_grace(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig],
    services: Services, database: str, redis_server: EmbeddedRedis,
) -> None:
    event = await make_event()
    shard = await services.seats(config(event))
    view = await hold(shard, "lingering", "k", count=2)
    await stopped(services)

    within = await audit_of(database, redis_server, event, now=view.expires_at + 29)
    assert within.ok, within.violations
    past = await audit_of(database, redis_server, event, now=view.expires_at + 31)
    assert kinds(past) == [checks.STALE_HOLD]
    assert view.hold_id in past.violations[0].detail
    strict = await audit_of(database, redis_server, event, now=view.expires_at + 2,
                            hold_grace_s=1.0)
    assert kinds(strict) == [checks.STALE_HOLD]


async def test_a_seat_in_two_active_items_if_the_index_were_missing(
    conn: asyncpg.Connection, event: EventRecord, user: UserRecord,
    redis_client: aioredis.Redis,
) -> None:
    await conn.execute(f"DROP INDEX {reservations_repo.ACTIVE_SEAT_INDEX}")  # rolled back
    for hold_id in ("0.first", "0.second"):
        await reservations_repo.create_pending(
            conn, user_id=user.id, event_id=event.id,
            items=[ItemSpec(shard=0, hold_id=hold_id, price=150_000, seat_id="A-1-1")],
            expires_at=datetime.now(UTC) + timedelta(minutes=5))

    data = await read_input(conn, redis_client, NAMESPACE, event.id)
    assert list(data.duplicate_seats) == ["A-1-1"], "the GROUP BY query finds it"
    result = audit(data, now=datetime.now(UTC).timestamp())
    assert kinds(result) == [checks.DOUBLE_BOOKED_SEAT]
    assert all(not s["started"] for s in result.summary["shards"])


async def test_an_unknown_event(database: str, redis_server: EmbeddedRedis) -> None:
    with pytest.raises(UnknownEvent):
        await run_audit(database, redis_server.url, NAMESPACE, uuid4())


def _tiketi_audit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.audit.command", *args],
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=120, check=False)


async def test_the_command_exits_0_clean_1_on_violations_2_on_bad_input(
    make_event: Callable[..., Any], database: str, redis_server: EmbeddedRedis,
) -> None:
    event = await make_event()
    conn = await connect(database)
    try:
        user = await new_user(conn, "cli")
        reservation = await reservations_repo.create_pending(
            conn, user_id=UUID(user), event_id=event.id,
            items=[ItemSpec(shard=0, hold_id="0.cli", price=90_000, seat_id="B-1-1")],
            expires_at=datetime.now(UTC) + timedelta(minutes=5))
        await reservations_repo.transition(conn, reservation.id, "FAILED")
        await pay(conn, reservation.id, 90_000, status="DONE", balance=90_000)
    finally:
        await conn.close()
    env = {"DATABASE_URL": database, "REDIS_URL": redis_server.url,
           "TIKETI_NAMESPACE": NAMESPACE}

    failing = _tiketi_audit("--event", str(event.id), "--json", **env)
    assert failing.returncode == 1, failing.stderr
    doc = json.loads(failing.stdout)
    assert doc["ok"] is False
    assert [v["kind"] for v in doc["violations"]] == [checks.PAYMENT_WITHOUT_SALE]

    conn = await connect(database)
    try:
        await conn.execute("UPDATE payments SET status = 'CANCELED', balance_amount = 0 "
                           "WHERE reservation_id = $1", reservation.id)
    finally:
        await conn.close()
    clean = _tiketi_audit("--event", str(event.id), **env)
    assert clean.returncode == 0, clean.stderr
    assert "OK: no violations" in clean.stdout

    unknown = _tiketi_audit("--event", str(uuid4()), **env)
    assert unknown.returncode == 2
    assert "no event" in unknown.stderr
