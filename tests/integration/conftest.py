"""Real PostgreSQL and Redis (and, for the tests that ask, a Redis Cluster) for the
integration tests, started once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis

from engine.core.ids import seat_id
from engine.core.venue import Row, Seat, Section, TicketType, Venue
from engine.local.postgres import EmbeddedPostgres
from engine.local.redis_server import EmbeddedRedis
from engine.store import events_repo, users_repo
from engine.store.migrate import apply_migrations
from engine.store.pool import connect
from engine.store.records import EventRecord, NewEvent, UserRecord
from tests.integration.redis_cluster import LocalRedisCluster


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """Three redis-server processes in cluster mode, the slots split between them."""
    with LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
async def database(postgres: EmbeddedPostgres) -> str:
    """The DSN of the session's migrated database."""
    conn = await asyncpg.connect(postgres.dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return postgres.dsn


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    connection = await connect(database)
    outer = connection.transaction()
    await outer.start()
    try:
        yield connection
    finally:
        await outer.rollback()
        await connection.close()


@pytest.fixture
async def redis_client(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


def _row(section: str, label: str, count: int, grade: str, price: int) -> Row:
    return Row(
        label=label,
        seats=tuple(
            Seat(seat_id(section, label, n), section, label, n, grade, price, x=n * 0.5, y=1.0)
            for n in range(1, count + 1)
        ),
    )


@pytest.fixture(scope="session")
def small_venue() -> Venue:
    return Venue(
        name="Small Hall",
        sections=(
            Section("A", "Section A", (_row("A", "1", 3, "VIP", 150_000),
                                       _row("A", "2", 3, "R", 120_000))),
            Section("B", "Section B", (_row("B", "1", 4, "S", 90_000),)),
            Section("C", "Section C", (_row("C", "1", 2, "S", 90_000),
                                       _row("C", "2", 2, "A", 60_000))),
        ),
        ticket_types=(
            TicketType("GA", "General admission", "A", 50_000, 10),
            TicketType("STAND", "Standing", "R", 70_000, 3),
        ),
        focal_x=1.5,
        focal_y=-2.0,
    )


@pytest.fixture(scope="session")
def new_event() -> Callable[..., NewEvent]:
    def make(title: str = "Concert", *, shard_count: int = 2, slug: str | None = None) -> NewEvent:
        starts = datetime(2030, 5, 1, 19, 0, tzinfo=UTC)
        return NewEvent(
            title=title,
            category="concert",
            venue_name="Small Hall",
            starts_at=starts,
            sale_opens_at=starts - timedelta(days=30),
            shard_count=shard_count,
            queue_seed_hash="c0ffee",
            queue_seed="seed",
            slug=slug,
        )

    return make


@pytest.fixture
async def event(
    conn: asyncpg.Connection, small_venue: Venue, new_event: Callable[..., NewEvent]
) -> EventRecord:
    return await events_repo.create_event(conn, new_event(), small_venue)


@pytest.fixture
async def user(conn: asyncpg.Connection) -> UserRecord:
    return await users_repo.create_user(
        conn, email="fan@example.com", password_hash="hash", name="Fan"
    )
