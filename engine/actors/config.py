"""What a shard actor needs to know to (re)build itself: passed at creation, kept by Ray for
restarts. Plain data only."""

from __future__ import annotations

from dataclasses import dataclass

from engine.settings import Settings


@dataclass(frozen=True)
class ShardConfig:
    event_id: str
    shard: int
    database_url: str
    redis_url: str
    namespace: str = "tiketi"
    snapshot_every_ops: int = 100_000
    snapshot_every_s: float = 30.0
    sweep_interval_s: float = 0.5
    queue_tick_s: float = 0.1
    queue_publish_s: float = 0.25
    log_level: str = "INFO"

    @classmethod
    def from_settings(
        cls, settings: Settings, *, event_id: str, shard: int, database_url: str, redis_url: str
    ) -> ShardConfig:
        return cls(
            event_id=event_id,
            shard=shard,
            database_url=database_url,
            redis_url=redis_url,
            namespace=settings.namespace,
            snapshot_every_ops=settings.snapshot_every_ops,
            snapshot_every_s=settings.snapshot_every_s,
            sweep_interval_s=settings.sweep_interval_s,
            queue_tick_s=settings.queue_tick_s,
            queue_publish_s=settings.queue_publish_s,
            log_level=settings.log_level,
        )

    @property
    def seat_journal(self) -> str:
        return f"{self.event_id}:seats:{self.shard}"

    @property
    def queue_journal(self) -> str:
        return f"{self.event_id}:queue"


def queue_summary_key(namespace: str, event_id: str) -> str:
    """Where a queue shard publishes its summary for replicas to read."""
    return f"{namespace}:{{{event_id}:queue}}:summary"
