"""A real local Ray instance, with embedded PostgreSQL and Redis, for the end-to-end tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.actors.cluster import connect_ray, disconnect_ray
from engine.actors.config import ShardConfig
from engine.actors.directory import EventShards, ShardDirectory
from engine.actors.router import EventQueue, EventSeats
from engine.core.venue import Venue
from engine.local import free_port
from engine.local.gateway import start_local_gateway
from engine.local.stores import LocalStores
from engine.payments.fake_gateway import FakeGatewayServer
from engine.provision import create_event
from engine.serve.deploy import deploy, ensure_admin, ha_proxy_environment, replica_settings
from engine.settings import (
    HttpSettings,
    PaymentSettings,
    RaySettings,
    SecuritySettings,
    Settings,
    ShardSettings,
)
from engine.store.migrate import migrate
from engine.store.pool import connect
from engine.store.records import EventRecord, SaleSettings

ADMIN_PASSWORD = "e2e-admin-password"


@dataclass
class Engine:
    settings: Settings
    database_url: str
    redis_url: str
    directory: ShardDirectory
    gateway: FakeGatewayServer


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    data = tmp_path_factory.mktemp("engine")
    settings = Settings(
        data_dir=Path(data), namespace=f"e2e{uuid.uuid4().hex[:8]}",
        shards=ShardSettings(snapshot_every_ops=50), ray=RaySettings(num_cpus=16),
        http=HttpSettings(port=free_port(), metrics_port=free_port(),
                          haproxy_stats_port=free_port(), trusted_hops=1),
        security=SecuritySettings(admin_password=ADMIN_PASSWORD, admin_email="admin@e2e.test"),
        payments=PaymentSettings(fake_gateway_port=free_port(), breaker_failures=3,
                                 breaker_reset_s=2.0, timeout_s=2.0))
    with LocalStores(settings) as stores:
        migrate(stores.database_url)
        settings = replica_settings(settings, database_url=stores.database_url,
                                    redis_url=stores.redis_url)
        settings, gateway = start_local_gateway(
            replace(settings, payments=replace(settings.payments, gateway_url=None)))
        assert gateway is not None
        ha_proxy_environment(settings)
        connect_ray(settings)
        try:
            directory = ShardDirectory(
                settings.namespace,
                lambda event_id, shard: ShardConfig.from_settings(
                    settings, event_id=event_id, shard=shard,
                    database_url=stores.database_url, redis_url=stores.redis_url),
                shard_cpus=settings.shards.cpus,
            )
            yield Engine(settings, stores.database_url, stores.redis_url, directory, gateway)
        finally:
            disconnect_ray()
            gateway.stop()


@pytest.fixture(scope="session")
def api(engine: Engine) -> str:
    """Every API service on Ray Serve (HAProxy mode); yields the base URL. Serve stops with
    the session's Ray instance."""
    async def admin() -> None:
        conn = await connect(engine.database_url)
        try:
            await ensure_admin(conn, engine.settings)
        finally:
            await conn.close()

    asyncio.run(admin())
    deploy(engine.settings)
    return f"http://127.0.0.1:{engine.settings.http.port}"


@pytest.fixture(autouse=True)
async def _close_new_events(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Stops the shards of the events a test created, so shard actors do not pile up on the
    session's small machine (a test cluster has no autoscaler to add nodes)."""
    if "engine" not in request.fixturenames:
        yield
        return
    engine: Engine = request.getfixturevalue("engine")
    started = datetime.now(UTC)
    yield
    conn = await connect(engine.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, shard_count, plan_generation FROM events WHERE created_at >= $1",
            started)
    finally:
        await conn.close()
    for row in rows:
        await engine.directory.close_event(str(row["id"]), row["shard_count"],
                                           row["plan_generation"])


@dataclass
class OpenEvent:
    record: EventRecord
    shards: EventShards
    seats: EventSeats
    queue: EventQueue


@pytest.fixture
def open_event(engine: Engine) -> Callable[..., Awaitable[OpenEvent]]:
    async def make(venue: Venue, *, shard_count: int = 1, **sale: Any) -> OpenEvent:
        conn = await connect(engine.database_url)
        try:
            now = datetime.now(UTC)
            record = await create_event(
                conn, title="E2E", venue=venue, category="concert",
                starts_at=now + timedelta(days=3), sale_opens_at=now - timedelta(seconds=1),
                shard_count=shard_count, settings=SaleSettings(**sale))
        finally:
            await conn.close()
        shards, infos = await engine.directory.open_event(str(record.id), shard_count)
        return OpenEvent(record, shards, EventSeats(shards, infos), EventQueue(shards.queue))

    return make
