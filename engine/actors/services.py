"""The seat and queue shards as plain asyncio services: a host over the core state, built
from PostgreSQL (layout, sale settings, sales), journaled to Redis, with their background
loops. The Ray actors in `shards.py` are thin wrappers around these, so the services run
(and are tested) without Ray as well."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from engine.actors.config import ShardConfig, queue_summary_key
from engine.actors.host import ShardHost, ShellClock
from engine.actors.metrics import ShardMetrics, report_queue, report_seats
from engine.background import BackgroundJob, Backoff, stop_all
from engine.core.command_wire import queue_commands, seat_commands
from engine.core.commands import (
    QueueCommand,
    SeatCommand,
    SetHoldPolicy,
    SetQueuePolicy,
    Sweep,
    Tick,
)
from engine.core.errors import InvalidCommand
from engine.core.ids import join_parts, quota_ref
from engine.core.inventory import SeatInventory
from engine.core.ledger import TicketLedger, home_shard
from engine.core.shard_state import QueueShardState, SeatShardState
from engine.core.venue import Venue
from engine.core.waiting_room import WaitingRoom
from engine.store import events_repo, reservations_repo
from engine.store.journal import ShardJournal, pack
from engine.store.pool import connect
from engine.store.records import EventRecord
from engine.store.redis_client import connect_redis

log = logging.getLogger(__name__)

S = TypeVar("S", SeatShardState, QueueShardState)
C = TypeVar("C", SeatCommand, QueueCommand)
T = TypeVar("T")


class _Service(Generic[S, C]):
    """What both shard services share: a Redis client, a host, background loops."""

    def __init__(self, config: ShardConfig, on_fatal: Callable[[BaseException], None]) -> None:
        self.config = config
        self.clock = ShellClock()
        self.redis = connect_redis(config.redis(), cluster=config.redis_cluster)
        self._on_fatal = on_fatal
        self._jobs: list[BackgroundJob] = []
        self.host: ShardHost[S, C] | None = None

    def _make_host(self, journal_name: str,
                   decode: Callable[[Sequence[Any]], Sequence[C]]) -> ShardHost[S, C]:
        journal = ShardJournal(self.redis, self.config.namespace, journal_name)
        self.host = ShardHost(
            journal,
            self.clock,
            decode,
            snapshot_every_ops=self.config.snapshot_every_ops,
            snapshot_every_s=self.config.snapshot_every_s,
            on_fatal=self._on_fatal,
        )
        return self.host

    def _every(self, seconds: float, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        name = f"shard {self.config.event_id}:{self.config.shard} {job.__name__.strip('_')}"
        self._jobs.append(BackgroundJob(name, job, every_s=seconds,
                                        backoff=Backoff.constant(seconds), logger=log))
        self._jobs[-1].start()

    async def _snapshot_if_due(self) -> None:
        assert self.host is not None
        if self.host.snapshot_due():
            await self.host.snapshot()

    async def submit(self, commands: Sequence[C | InvalidCommand]) -> list[Any]:
        """Outcomes in order; a command the wire could not read is answered with its error."""
        assert self.host is not None
        valid = [c for c in commands if not isinstance(c, InvalidCommand)]
        if len(valid) == len(commands):
            return await self.host.submit(valid)
        done = iter(await self.host.submit(valid))
        return [c if isinstance(c, InvalidCommand) else next(done) for c in commands]

    async def read(self, fn: Callable[[S], T]) -> T:
        assert self.host is not None
        return await self.host.read(fn)

    async def close(self) -> None:
        await stop_all(self._jobs)
        if self.host is not None:
            await self.host.close()
        await self.redis.aclose()


class SeatShardService(_Service[SeatShardState, SeatCommand]):
    async def start(self) -> dict[str, Any]:
        cfg = self.config
        event_id = UUID(cfg.event_id)
        conn = await connect(cfg.database())
        try:
            event = await events_repo.get_event(conn, event_id)
            venue = await events_repo.load_venue(conn, event_id, shard=cfg.shard)
        finally:
            await conn.close()
        self.event = event
        self.venue = venue
        policy = event.settings.hold_policy()
        clock = self.clock

        def make(prefix: str) -> SeatShardState:
            return SeatShardState(
                SeatInventory(venue, policy, clock, hold_prefix=prefix),
                TicketLedger(policy.user_limit, clock),
            )

        host = self._make_host(cfg.seat_journal, seat_commands)
        info = await host.start(
            fresh=lambda: make(f"{cfg.shard}.{secrets.token_hex(3)}"),
            blank=lambda: make(""),
            after_restore=self._reconcile,
        )
        self._every(cfg.sweep_interval_s, self._sweep)
        self._every(1.0, self._snapshot_if_due)
        self._metrics = ShardMetrics(cfg.event_id, cfg.shard)
        if self._metrics.enabled:
            self._every(2.0, self._report)
        return {**info, **self.describe()}

    async def _report(self) -> None:
        report_seats(self._metrics, await self.read(lambda s: s.inventory.totals()))

    def describe(self) -> dict[str, Any]:
        venue: Venue = self.venue
        policy = self.event.settings.hold_policy()
        distances = [venue.distance(s) for s in venue.seats()]
        return {
            "event_id": self.config.event_id,
            "shard": self.config.shard,
            "shard_count": self.event.shard_count,
            "sections": [s.id for s in venue.sections],
            "ticket_types": [t.id for t in venue.ticket_types],
            "grades": sorted({s.grade for s in venue.seats()}),
            "nearest": min(distances) if distances else None,
            "capacity": venue.capacity,
            "policy": {"ttl": policy.ttl, "extension": policy.extension,
                       "max_lifetime": policy.max_lifetime, "user_limit": policy.user_limit},
        }

    async def _reconcile(self, state: SeatShardState) -> bool:
        """PostgreSQL wins: its confirmed sales are forced in, sales it does not know are
        cancelled, and (for split events) the ledger learns every sale of its home users."""
        cfg = self.config
        event: EventRecord = self.event
        conn = await connect(cfg.database())
        try:
            confirmed, active = await reservations_repo.shard_sales(
                conn, event_id=event.id, shard=cfg.shard)
            policy = event.settings.hold_policy()
            policy_changed = state.inventory.policy != policy
            if policy_changed:
                state.apply(SetHoldPolicy(policy))
            report = state.inventory.reconcile(confirmed, active)
            added = 0
            if event.shard_count > 1:
                # Per hold (one quota reference): its users, tickets and parts, in shard order.
                holds: dict[str, tuple[str, int, list[str]]] = {}
                for k in range(event.shard_count):
                    sales = confirmed if k == cfg.shard else (
                        await reservations_repo.shard_sales(conn, event_id=event.id,
                                                            shard=k))[0]
                    for sale in sales:
                        if home_shard(sale.user_id, event.shard_count) == cfg.shard:
                            tickets = len(sale.seat_ids) + sum(q for _, q in sale.ga)
                            ref = quota_ref(sale.hold_id)
                            user, had, parts = holds.get(ref, (sale.user_id, 0, []))
                            holds[ref] = (user, had + tickets, [*parts, sale.hold_id])
                sold: dict[str, list[tuple[str, int, str]]] = {}
                for ref, (user, tickets, parts) in holds.items():
                    sold.setdefault(user, []).append((ref, tickets, join_parts(parts)))
                added = state.ledger.reconcile(sold)
        finally:
            await conn.close()
        if report.changed or added or policy_changed:
            log.warning("shard %s:%s reconciled with PostgreSQL: %s, %d ledger entries, "
                        "policy %s", cfg.event_id, cfg.shard, report, added,
                        "updated" if policy_changed else "unchanged")
        return report.changed or added > 0 or policy_changed

    async def _sweep(self) -> None:
        assert self.host is not None
        state = self.host.state
        now = self.clock.tick()
        due = [t for t in (state.inventory.next_expiry(), state.ledger.next_expiry())
               if t is not None and t <= now]
        if due:
            await self.host.submit([Sweep()])


class QueueShardService(_Service[QueueShardState, QueueCommand]):
    async def start(self) -> dict[str, Any]:
        cfg = self.config
        conn = await connect(cfg.database())
        try:
            event = await events_repo.get_event(conn, UUID(cfg.event_id))
        finally:
            await conn.close()
        self.event = event
        if not event.queue_seed:
            raise RuntimeError(f"event {event.id} has no queue seed")
        clock = self.clock
        seed = event.queue_seed

        def make() -> QueueShardState:
            return QueueShardState(WaitingRoom(event.settings.queue_policy(), clock,
                                               opens_at=event.sale_opens_at.timestamp(),
                                               seed=seed))

        async def reconcile(state: QueueShardState) -> bool:
            policy = event.settings.queue_policy()
            opens_at = event.sale_opens_at.timestamp()
            room = state.room
            if room.policy == policy and (room.opens_at == opens_at or room.phase != "pre"):
                return False
            state.apply(SetQueuePolicy(policy, opens_at if room.phase == "pre" else None))
            return True

        host = self._make_host(cfg.queue_journal, queue_commands)
        info = await host.start(fresh=make, blank=make, after_restore=reconcile)
        self._summary_key = queue_summary_key(cfg.namespace, cfg.event_id)
        self._metrics = ShardMetrics(cfg.event_id, cfg.shard)
        self._published = -1
        self._published_at = 0.0
        await self._publish()
        self._every(cfg.queue_tick_s, self._tick)
        self._every(cfg.queue_publish_s, self._publish)
        self._every(1.0, self._snapshot_if_due)
        return {**info, "event_id": cfg.event_id, "seed_commitment": event.queue_seed_hash}

    async def _tick(self) -> None:
        assert self.host is not None
        await self.host.submit([Tick()])

    async def _publish(self) -> None:
        """Publishes the summary when it changed, and at least every second otherwise, so
        replicas never find it missing while the shard runs."""
        summary = await self.read(lambda s: s.room.summary())
        report_queue(self._metrics, summary)
        now = time.monotonic()
        if summary.version == self._published and now - self._published_at < 1.0:
            return
        ttl_ms = max(10_000, int(self.config.queue_publish_s * 40_000))
        await self.redis.set(self._summary_key, pack(summary.to_list()), px=ttl_ms)
        self._published = summary.version
        self._published_at = now
