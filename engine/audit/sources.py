"""What the audit reads: the event's rows in PostgreSQL and each seat shard's durable state in
Redis, rebuilt offline. Reads only: the journal is never claimed, nothing is written."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from engine.actors.config import ShardConfig
from engine.audit.checks import AuditInput, PaymentRow, ReservationRow, SeatItem, ShardView
from engine.audit.rebuild import rebuild_seat_shard, shard_view
from engine.core.inventory import HoldPolicy
from engine.store import events_repo
from engine.store.journal import Recovered, ShardJournal
from engine.store.queries import load_queries
from engine.store.redis_client import RedisClient

SQL = load_queries("engine.audit", "sources.sql")
_RECOVER_ATTEMPTS = 5


class UnknownEvent(LookupError):
    pass


async def read_input(
    conn: asyncpg.Connection, redis: RedisClient, namespace: str, event_id: UUID
) -> AuditInput:
    """Everything the checks need. Run it in one read-only REPEATABLE READ transaction so
    the database side is one consistent snapshot."""
    event = await events_repo.find_event(conn, event_id)
    if event is None:
        raise UnknownEvent(f"no event {event_id}")
    policy = event.settings.hold_policy()
    shards = [
        await read_shard(conn, redis, namespace, event_id, k, policy, event.plan_generation)
        for k in range(event.shard_count)
    ]
    items = await SQL.seat_items.fetch(conn, event_id=event_id)
    duplicates = await SQL.duplicate_seats.fetch(conn, event_id=event_id)
    reservations = await SQL.reservations.fetch(conn, event_id=event_id)
    payments = await SQL.payments.fetch(conn, event_id=event_id)
    return AuditInput(
        event_id=str(event.id),
        title=event.title,
        shard_count=event.shard_count,
        seat_items=[
            SeatItem(str(r["reservation_id"]), r["seat_id"], r["shard"], r["hold_id"],
                     r["status"])
            for r in items
        ],
        reservations=[ReservationRow(str(r["id"]), r["status"], r["total_amount"])
                      for r in reservations],
        payments=[
            PaymentRow(str(r["id"]), str(r["reservation_id"]), r["amount"], r["status"],
                       r["balance_amount"])
            for r in payments
        ],
        shards=shards,
        duplicate_seats={r["seat_id"]: [str(x) for x in r["reservation_ids"]]
                         for r in duplicates},
    )


async def read_shard(
    conn: asyncpg.Connection,
    redis: RedisClient,
    namespace: str,
    event_id: UUID,
    shard: int,
    policy: HoldPolicy,
    generation: int = 0,
) -> ShardView:
    """One seat shard as a restart would rebuild it from Redis, before reconciliation."""
    venue = await events_repo.load_venue(conn, event_id, shard=shard)
    name = ShardConfig(str(event_id), shard, database_url="", redis_url="",
                       namespace=namespace, generation=generation).seat_journal
    journal = ShardJournal(redis, namespace, name)
    recovered = await recover_whole(journal)
    if recovered is None:
        return ShardView(shard, error="its journal does not follow its snapshot "
                         "(entries are missing)")
    try:
        state = rebuild_seat_shard(venue, policy, recovered)
    except Exception as exc:  # whatever stops a replay would stop the shard's restart too
        return ShardView(shard, seq=recovered.last_seq, snapshot_seq=recovered.snapshot_seq,
                         error=f"its journal does not replay: {type(exc).__name__}: {exc}")
    return shard_view(shard, state, recovered)


async def recover_whole(journal: ShardJournal) -> Recovered | None:
    """The snapshot and every journal entry after it. A live shard may snapshot and trim
    between the two reads of `recover` (a restarting shard fences it off first; the audit
    may not), which shows as a gap: read again. None if the gap stays."""
    for _ in range(_RECOVER_ATTEMPTS):
        recovered = await journal.recover()
        seqs = [e.seq for e in recovered.entries]
        first = recovered.snapshot_seq + 1
        if seqs == list(range(first, first + len(seqs))):
            return recovered
    return None
