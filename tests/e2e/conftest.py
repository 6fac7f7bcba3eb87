"""A real local Ray instance, with embedded PostgreSQL and Redis, for the end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
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
from engine.local.stores import LocalStores
from engine.provision import create_event
from engine.settings import Settings
from engine.store.migrate import migrate
from engine.store.pool import connect
from engine.store.records import EventRecord, SaleSettings


@dataclass
class Engine:
    settings: Settings
    database_url: str
    redis_url: str
    directory: ShardDirectory


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    data = tmp_path_factory.mktemp("engine")
    settings = replace(Settings(), data_dir=Path(data), namespace=f"e2e{uuid.uuid4().hex[:8]}",
                       snapshot_every_ops=50, ray_num_cpus=2)
    with LocalStores(settings) as stores:
        migrate(stores.database_url)
        connect_ray(settings)
        try:
            directory = ShardDirectory(
                settings.namespace,
                lambda event_id, shard: ShardConfig.from_settings(
                    settings, event_id=event_id, shard=shard,
                    database_url=stores.database_url, redis_url=stores.redis_url),
            )
            yield Engine(settings, stores.database_url, stores.redis_url, directory)
        finally:
            disconnect_ray()


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
