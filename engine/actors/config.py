"""What a shard actor needs to know to (re)build itself: passed at creation, kept by Ray for
restarts. Plain data only.

Ray keeps an actor's constructor arguments in its control store (the GCS, persisted to Redis
on a fault-tolerant cluster), so a store URL that carries credentials is not passed when the
creating process has it from its environment: the shard then reads the same variable from its
own (on KubeRay every pod gets it from the same Secret; locally Ray's workers inherit it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from engine.settings import Settings


@dataclass(frozen=True)
class ShardConfig:
    event_id: str
    shard: int
    database_url: str | None
    redis_url: str | None
    namespace: str = "tiketi"
    snapshot_every_ops: int = 100_000
    snapshot_every_s: float = 30.0
    sweep_interval_s: float = 0.5
    queue_tick_s: float = 0.1
    queue_publish_s: float = 0.25
    log_level: str = "INFO"
    redis_cluster: bool = False
    generation: int = 0
    link_host: str = "127.0.0.1"  # an address, "node", or "off" (engine.actors.link)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, event_id: str, shard: int, database_url: str, redis_url: str,
        environ: Mapping[str, str] | None = None,
    ) -> ShardConfig:
        env = os.environ if environ is None else environ
        return cls(
            event_id=event_id,
            shard=shard,
            database_url=None if env.get(DATABASE_ENV) == database_url else database_url,
            redis_url=None if env.get(REDIS_ENV) == redis_url else redis_url,
            redis_cluster=settings.stores.redis_cluster,
            namespace=settings.namespace,
            snapshot_every_ops=settings.shards.snapshot_every_ops,
            snapshot_every_s=settings.shards.snapshot_every_s,
            sweep_interval_s=settings.shards.sweep_interval_s,
            queue_tick_s=settings.shards.queue_tick_s,
            queue_publish_s=settings.shards.queue_publish_s,
            log_level=settings.log_level,
            link_host=settings.shards.link_host,
        )

    def database(self, environ: Mapping[str, str] | None = None) -> str:
        return self.database_url or _from_env(DATABASE_ENV, environ)

    def redis(self, environ: Mapping[str, str] | None = None) -> str:
        return self.redis_url or _from_env(REDIS_ENV, environ)

    @property
    def seat_journal(self) -> str:
        if self.generation == 0:
            return f"{self.event_id}:seats:{self.shard}"
        return f"{self.event_id}:seats:g{self.generation}:{self.shard}"

    @property
    def queue_journal(self) -> str:
        return f"{self.event_id}:queue"


DATABASE_ENV = "DATABASE_URL"
REDIS_ENV = "REDIS_URL"


class MissingStoreUrl(RuntimeError):
    pass


def _from_env(name: str, environ: Mapping[str, str] | None) -> str:
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise MissingStoreUrl(f"{name} is not set in this shard's environment (the creating "
                              "process had it from its own, so it was not passed)")
    return value


def queue_summary_key(namespace: str, event_id: str) -> str:
    """Where a queue shard publishes its summary for replicas to read."""
    return f"{namespace}:{{{event_id}:queue}}:summary"
