"""`api.ratelimit.RateLimiter` replicas sharing their counts through a real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from api.ratelimit import RateLimiter
from engine.core.clock import ManualClock
from engine.local import free_port
from engine.local.redis_server import EmbeddedRedis

LIMIT = 100
WINDOW_S = 60.0
INDEX = 28_333_334
WINDOW_START = INDEX * WINDOW_S

MakeLimiter = Callable[..., RateLimiter]


def fail_fast_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))


@pytest.fixture
async def make_limiter(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> AsyncIterator[MakeLimiter]:
    """Builds replicas, each with its own client of the session's Redis."""
    clients: list[aioredis.Redis] = []

    def make(clock: ManualClock, sync_interval_s: float = 0.2) -> RateLimiter:
        client = aioredis.Redis.from_url(redis_server.url)
        clients.append(client)
        return RateLimiter(
            client, limit=LIMIT, window_s=WINDOW_S, sync_interval_s=sync_interval_s,
            clock=clock.now,
        )

    yield make
    for client in clients:
        await client.aclose()


def admit(limiter: RateLimiter, subject: str, count: int) -> None:
    for _ in range(count):
        assert limiter.hit(subject).allowed


def admit_until_refused(limiter: RateLimiter, subject: str) -> int:
    admitted = 0
    while limiter.hit(subject).allowed:
        admitted += 1
        assert admitted <= 3 * LIMIT, "the limiter never refuses"
    return admitted


def key(subject: str, index: int = INDEX) -> str:
    return f"tiketi:rl:{{{subject}}}:{index}"


async def global_count(client: aioredis.Redis, subject: str, index: int = INDEX) -> int | None:
    value = await client.get(key(subject, index))
    return None if value is None else int(value)


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_a_replica_refuses_once_the_combined_count_reaches_the_limit(
    make_limiter: MakeLimiter, redis_client: aioredis.Redis
) -> None:
    clock = ManualClock(WINDOW_START + 10)
    first, second = make_limiter(clock), make_limiter(clock)
    admit(first, "user:a", 60)
    assert second.hit("user:a").remaining == LIMIT - 1

    await first.sync()
    await second.sync()

    assert second.hit("user:a").remaining == LIMIT - 62
    assert admit_until_refused(second, "user:a") == LIMIT - 62
    await second.sync()
    await first.sync()
    # A replica learns the global count in the round after its own request: until then it
    # decides on the counts of its last round, so one more request passes there.
    assert first.hit("user:a").allowed
    await first.sync()
    assert not first.hit("user:a").allowed
    assert await global_count(redis_client, "user:a") == LIMIT + 1


async def test_without_syncs_each_replica_admits_at_most_the_limit(
    make_limiter: MakeLimiter, redis_client: aioredis.Redis
) -> None:
    clock = ManualClock(WINDOW_START + 10)
    replicas = [make_limiter(clock) for _ in range(3)]

    assert [admit_until_refused(r, "user:a") for r in replicas] == [LIMIT] * 3

    for replica in replicas:
        await replica.sync()
    assert await global_count(redis_client, "user:a") == 3 * LIMIT
    assert all(not r.hit("user:a").allowed for r in replicas)


async def _commands_run(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items()
               if k in ("cmdstat_incrby", "cmdstat_expire", "cmdstat_get"))


async def test_a_round_costs_redis_work_only_for_the_subjects_admitted_since_the_last(
    make_limiter: MakeLimiter, redis_client: aioredis.Redis
) -> None:
    clock = ManualClock(WINDOW_START + 10)
    limiter = make_limiter(clock)
    for k in range(200):
        limiter.hit(f"user:{k}")
    await limiter.sync()
    assert limiter.tracked_subjects == 200

    before = await _commands_run(redis_client)
    admit(limiter, "user:7", 3)
    await limiter.sync()
    await limiter.sync()
    # INCRBY and EXPIRE for the one subject; its previous window was read in the first round.
    assert await _commands_run(redis_client) - before == 2
    assert await global_count(redis_client, "user:7") == 4


async def test_counts_expire_after_about_two_windows(
    make_limiter: MakeLimiter, redis_client: aioredis.Redis
) -> None:
    clock = ManualClock(WINDOW_START + 10)
    limiter = make_limiter(clock)
    admit(limiter, "user:a", 5)

    await limiter.sync()

    ttl = await redis_client.ttl(key("user:a"))
    assert 2 * WINDOW_S - 2 <= ttl <= 2 * WINDOW_S


async def test_the_window_rolls_over(
    make_limiter: MakeLimiter, redis_client: aioredis.Redis
) -> None:
    clock = ManualClock(WINDOW_START + 30)
    first = make_limiter(clock)
    admit(first, "user:a", LIMIT)
    await first.sync()

    clock.set(WINDOW_START + WINDOW_S + 30)
    second = make_limiter(clock)
    admit(second, "user:a", 1)
    await second.sync()
    assert admit_until_refused(second, "user:a") == 49
    await second.sync()
    assert first.hit("user:a").allowed  # decided on first's own counts (see above)
    await first.sync()

    assert not first.hit("user:a").allowed
    assert await global_count(redis_client, "user:a", INDEX) == LIMIT
    assert await global_count(redis_client, "user:a", INDEX + 1) == 51
    clock.set(WINDOW_START + 3 * WINDOW_S)
    assert admit_until_refused(first, "user:a") == LIMIT


async def test_subjects_not_seen_for_two_windows_are_forgotten(
    make_limiter: MakeLimiter,
) -> None:
    clock = ManualClock(WINDOW_START)
    limiter = make_limiter(clock)
    limiter.hit("user:a")
    clock.advance(WINDOW_S)
    limiter.hit("user:b")
    await limiter.sync()
    assert limiter.tracked_subjects == 2

    clock.advance(WINDOW_S + 1)
    await limiter.sync()

    assert limiter.tracked_subjects == 1


async def test_sync_survives_redis_going_away_and_catches_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    server = EmbeddedRedis(tmp_path, port=port)
    server.start()
    url = server.url
    clock = ManualClock(WINDOW_START + 10)
    client = fail_fast_client(url)
    try:
        limiter = RateLimiter(client, limit=LIMIT, window_s=WINDOW_S, clock=clock.now)
        admit(limiter, "user:a", 30)
        await limiter.sync()
        assert await global_count(client, "user:a") == 30

        await asyncio.to_thread(server.stop)
        with caplog.at_level(logging.INFO, logger="api.ratelimit"):
            admit(limiter, "user:a", 30)
            await limiter.sync()
            await limiter.sync()
            assert admit_until_refused(limiter, "user:a") == 40
            await limiter.sync()
            assert [r.levelno for r in caplog.records] == [logging.WARNING]

            server = EmbeddedRedis(tmp_path, port=port)
            await asyncio.to_thread(server.start)
            await limiter.sync()
            assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]

        async with aioredis.Redis.from_url(url) as observer:
            assert await global_count(observer, "user:a") == LIMIT
            other = RateLimiter(observer, limit=LIMIT, window_s=WINDOW_S, clock=clock.now)
            other.hit("user:a")
            await other.sync()
            assert not other.hit("user:a").allowed
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)


async def test_the_background_loop_outlives_an_outage(tmp_path: Path) -> None:
    port = free_port()
    clock = ManualClock(WINDOW_START + 10)
    client = fail_fast_client(f"redis://127.0.0.1:{port}/0")
    server = EmbeddedRedis(tmp_path, port=port)
    try:
        limiter = RateLimiter(
            client, limit=LIMIT, window_s=WINDOW_S, sync_interval_s=0.02, clock=clock.now
        )
        await limiter.start()
        admit(limiter, "user:a", 20)
        await asyncio.sleep(0.2)
        assert limiter.hit("user:a").remaining == LIMIT - 21

        await asyncio.to_thread(server.start)

        async def caught_up() -> bool:
            return await global_count(client, "user:a") == 21

        await eventually(caught_up)
        await limiter.close()
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)


async def test_start_and_close_run_the_loop_and_a_last_sync(
    make_limiter: MakeLimiter, redis_client: aioredis.Redis
) -> None:
    clock = ManualClock(WINDOW_START + 10)
    limiter = make_limiter(clock, sync_interval_s=0.02)
    await limiter.start()
    await limiter.start()
    admit(limiter, "user:a", 10)

    async def synced() -> bool:
        return await global_count(redis_client, "user:a") == 10

    await eventually(synced)
    admit(limiter, "user:a", 5)
    await limiter.close()

    assert await global_count(redis_client, "user:a") == 15
    admit(limiter, "user:a", 5)
    await asyncio.sleep(0.1)
    assert await global_count(redis_client, "user:a") == 15
