"""Seat and queue shard services on the real PostgreSQL and Redis (no Ray): restart from
snapshot + journal, reconciliation with PostgreSQL, fencing of a stale writer, the queue
summary in Redis."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from engine.actors.config import ShardConfig, queue_summary_key
from engine.actors.services import QueueShardService, SeatShardService
from engine.core.commands import Confirm, Hold, HoldBest, Join, Leave, QuotaReserve, SeatCommand
from engine.core.errors import DomainError, SeatUnavailable, ShardUnavailable
from engine.core.inventory import HoldView
from engine.core.venue import Venue
from engine.core.waiting_room import QueueSummary
from engine.local import free_port
from engine.local.redis_server import EmbeddedRedis
from engine.provision import create_event
from engine.store import reservations_repo, users_repo
from engine.store.journal import unpack
from engine.store.pool import connect
from engine.store.records import EventRecord, ItemSpec, SaleSettings
from tests.sales import new_user, sell


@pytest.fixture
async def make_event(database: str, small_venue: Venue) -> Callable[..., Any]:
    async def make(shard_count: int = 1, opens_in: float = -60.0) -> EventRecord:
        conn = await connect(database)
        try:
            now = datetime.now(UTC)
            return await create_event(
                conn, title="Shard test", venue=small_venue, category="concert",
                starts_at=now + timedelta(days=7),
                sale_opens_at=now + timedelta(seconds=opens_in),
                shard_count=shard_count,
                settings=SaleSettings(hold_ttl_s=300, per_user_limit=4, admission_rate=100.0),
            )
        finally:
            await conn.close()

    return make


@pytest.fixture
def config(database: str, redis_server: EmbeddedRedis) -> Callable[..., ShardConfig]:
    def make(event: EventRecord, shard: int = 0, **kw: Any) -> ShardConfig:
        return ShardConfig(event_id=str(event.id), shard=shard, database_url=database,
                           redis_url=redis_server.url, namespace="itest", **kw)

    return make


class Services:
    """Starts services and closes them all at the end of a test."""

    def __init__(self) -> None:
        self.started: list[SeatShardService | QueueShardService] = []
        self.fatal: list[BaseException] = []

    async def seats(self, cfg: ShardConfig) -> SeatShardService:
        service = SeatShardService(cfg, self.fatal.append)
        await service.start()
        self.started.append(service)
        return service

    async def queue(self, cfg: ShardConfig) -> QueueShardService:
        service = QueueShardService(cfg, self.fatal.append)
        await service.start()
        self.started.append(service)
        return service


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    s = Services()
    yield s
    for service in s.started:
        await service.close()
    s.fatal.clear()
    gc.collect()  # finalise dead connections now, not inside some later parse (CPython 3.11)


async def state_of(service: SeatShardService | QueueShardService) -> Any:
    return await service.read(lambda s: s.snapshot())


async def _one(service: SeatShardService, cmd: SeatCommand) -> Any:
    return (await service.submit([cmd]))[0]


async def test_seat_shard_restarts_with_exactly_what_it_acknowledged(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig], services: Services,
    database: str,
) -> None:
    event = await make_event()
    cfg = config(event, snapshot_every_ops=5)
    first = await services.seats(cfg)
    acknowledged = []
    conn = await connect(database)
    try:
        for i in range(12):
            user = await new_user(conn, f"user{i}")
            (view,) = await first.submit([HoldBest(user, 1, f"k{i}")])
            assert isinstance(view, HoldView)
            if i % 3 == 0:
                sold = await sell(conn, event_id=event.id, view=view, shard=0,
                                  confirm=lambda v=view, u=user: _one(
                                      first, Confirm(u, v.hold_id, "c")))
                assert sold.status == "sold"
            acknowledged.append(view)
    finally:
        await conn.close()
    expected = await state_of(first)
    await first.close()
    services.started.remove(first)

    second = await services.seats(cfg)
    assert await state_of(second) == expected
    first_hold = acknowledged[0]
    (again,) = await second.submit([HoldBest(first_hold.user_id, 1, "k0")])
    assert again == first_hold


async def test_postgres_wins_when_the_shard_restarts(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig], services: Services,
    database: str,
) -> None:
    event = await make_event()
    cfg = config(event)
    shard = await services.seats(cfg)
    (ghost,) = await shard.submit([Hold("someone", ["A-1-1"], "g")])
    await shard.submit([Confirm("someone", ghost.hold_id, "g2")])
    (blocker,) = await shard.submit([Hold("other", ["B-1-1"], "b")])
    await shard.close()
    services.started.remove(shard)

    conn = await connect(database)
    try:
        user = await users_repo.create_user(conn, email=f"{event.id}@example.com",
                                            password_hash="x", name="Buyer")
        reservation = await reservations_repo.create_pending(
            conn, user_id=user.id, event_id=event.id,
            items=[ItemSpec(shard=0, hold_id="0.fromdb", price=90_000, seat_id="B-1-1")],
            expires_at=datetime.now(UTC) + timedelta(minutes=5))
        await reservations_repo.transition(conn, reservation.id, "CONFIRMED")
    finally:
        await conn.close()

    restarted = await services.seats(cfg)
    states = await restarted.read(lambda s: dict(zip(s.inventory.seat_ids,
                                                     s.inventory.seat_states(), strict=True)))
    assert states["A-1-1"] == 0, "a sale PostgreSQL does not know is cancelled"
    assert states["B-1-1"] == 2, "a sale PostgreSQL confirmed is forced in"
    info = await restarted.read(lambda s: s.inventory.holds())
    assert blocker.hold_id not in {h.hold_id for h in info}
    assert await restarted.read(lambda s: s.inventory.user_tickets(str(user.id))) == 1


async def test_a_stale_writer_is_fenced_off(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig], services: Services
) -> None:
    event = await make_event()
    cfg = config(event)
    old = await services.seats(cfg)
    await old.submit([Hold("u1", ["A-1-1"], "k1")])
    new = await services.seats(cfg)
    with pytest.raises(ShardUnavailable):
        await old.submit([Hold("u2", ["A-1-2"], "k2")])
    assert services.fatal, "the stale writer was told to end itself"
    (outcome,) = await new.submit([Hold("u3", ["A-1-1"], "k3")])
    assert isinstance(outcome, SeatUnavailable)
    assert (await new.submit([Hold("u2", ["A-1-2"], "k2")]))[0].status == "held"


async def test_journal_failure_fails_the_reply_and_keeps_nothing_unacknowledged(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig], services: Services,
    tmp_path: Any,
) -> None:
    event = await make_event()
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    url = server.start()
    try:
        cfg = ShardConfig(event_id=str(event.id), shard=0, database_url=config(event)
                          .database_url, redis_url=url, namespace="itest")
        shard = await services.seats(cfg)
        await shard.submit([Hold("u1", ["A-1-1"], "k1")])
        server.stop()
        with pytest.raises((ShardUnavailable, ConnectionError, OSError)):
            await shard.submit([Hold("u2", ["A-1-2"], "k2")])
        server.start()
        await shard.close()
        services.started.remove(shard)
        restarted = await services.seats(cfg)
        status = await restarted.read(lambda s: (s.inventory.seat_status("A-1-1"),
                                                 s.inventory.seat_status("A-1-2")))
        assert status == ("held", "available")
    finally:
        server.stop()


async def test_queue_shard_restores_places_and_publishes_its_summary(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig], services: Services,
    redis_server: EmbeddedRedis,
) -> None:
    import redis.asyncio as aioredis

    event = await make_event(opens_in=-1.0)
    cfg = config(event, shard=-1, queue_tick_s=0.05, queue_publish_s=0.05)
    queue = await services.queue(cfg)
    for i in range(10):
        await queue.submit([Join(f"fan{i}")])
    await queue.submit([Leave("fan3")])
    expected = await state_of(queue)
    await asyncio.sleep(0.3)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        raw = await client.get(queue_summary_key("itest", str(event.id)))
        assert raw is not None
        summary = QueueSummary.from_list(unpack(raw))
    finally:
        await client.aclose()
    status = await queue.read(lambda s: s.room.status("fan9"))
    if status.state == "waiting":
        assert summary.position(status.seq) is not None
    assert summary.seed_commitment == event.queue_seed_hash
    await queue.close()
    services.started.remove(queue)
    again = await services.queue(cfg)
    restored = await state_of(again)
    assert [m[0] for m in restored["members"]] == [m[0] for m in expected["members"]]
    assert await again.read(lambda s: s.room.status("fan3").state) == "left"


async def test_split_event_counts_a_users_tickets_across_shards(
    make_event: Callable[..., Any], config: Callable[..., ShardConfig], services: Services,
    database: str,
) -> None:
    """Reconciliation feeds each home shard's ledger with its users' sales on every shard."""
    event = await make_event(shard_count=2)
    conn = await connect(database)
    try:
        user = await users_repo.create_user(conn, email=f"split-{event.id}@example.com",
                                            password_hash="x", name="Split")
        plan = {}
        from engine.store import events_repo
        plan = await events_repo.shard_plan(conn, event.id)
        other = 1 - plan["A"]
        seat = next(s for s in ("B-1-1", "C-1-1") if plan[s.split("-")[0]] == other)
        reservation = await reservations_repo.create_pending(
            conn, user_id=user.id, event_id=event.id,
            items=[ItemSpec(shard=other, hold_id=f"{other}.abc", price=1, seat_id=seat)],
            expires_at=datetime.now(UTC) + timedelta(minutes=5))
        await reservations_repo.transition(conn, reservation.id, "CONFIRMED")
    finally:
        await conn.close()
    from engine.core.ledger import home_shard

    home = home_shard(str(user.id), 2)
    shard = await services.seats(config(event, shard=home))
    assert await shard.read(lambda s: s.ledger.count(str(user.id))) == 1
    (outcome,) = await shard.submit([QuotaReserve(str(user.id), "q", 4, 9e9)])
    assert isinstance(outcome, DomainError) and outcome.code == "USER_LIMIT_EXCEEDED"
    assert UUID(str(user.id))
