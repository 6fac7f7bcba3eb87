"""The saga log: each saga's current state (table `sagas`) and every step it took (`saga_log`),
written in the caller's transaction, so a state and the change it records commit together.

One runner per saga across processes: a runner first claims the saga's lease (`claim`), renews
it while it runs and releases it when it stops; a lease whose holder died lapses and is taken
over. No connection is held in between. A move is also checked against the state it starts
from (`advance` raises `SagaMoved` when another runner got there first), so even a runner
that outlived its lease cannot record a step twice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from engine.store.errors import Conflict, NotFound
from engine.store.queries import load_queries

SQL = load_queries("engine.store", "saga.sql")


class SagaMoved(Conflict):
    """The saga is no longer in the state a runner read: another runner moved it."""


@dataclass(frozen=True)
class SagaRecord:
    id: UUID
    kind: str
    reservation_id: UUID
    state: str
    data: dict[str, Any]
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def _record(row: Any) -> SagaRecord:
    data = row["data"]
    return SagaRecord(id=row["id"], kind=row["kind"], reservation_id=row["reservation_id"],
                      state=row["state"],
                      data=json.loads(data) if isinstance(data, str) else dict(data),
                      attempts=row["attempts"], created_at=row["created_at"],
                      updated_at=row["updated_at"], finished_at=row["finished_at"])


async def start(conn: asyncpg.Connection, *, kind: str, reservation_id: UUID, state: str,
                data: dict[str, Any], next_attempt_at: datetime | None = None) -> SagaRecord:
    """The reservation's saga of `kind`, created in `state` unless it exists; the recovery
    worker first looks at it at `next_attempt_at` (default: now)."""
    row = await SQL.start.fetchrow(
        conn, kind=kind, reservation_id=reservation_id, state=state, data=json.dumps(data),
        next_attempt_at=next_attempt_at)
    if row is None:
        return await for_reservation(conn, reservation_id)
    return _record(row)


async def for_reservation(conn: asyncpg.Connection, reservation_id: UUID) -> SagaRecord:
    saga = await find_for_reservation(conn, reservation_id)
    if saga is None:
        raise NotFound(f"no saga for reservation {reservation_id}")
    return saga


async def find_for_reservation(conn: asyncpg.Connection, reservation_id: UUID
                               ) -> SagaRecord | None:
    row = await SQL.for_reservation.fetchrow(conn, reservation_id=reservation_id)
    return None if row is None else _record(row)


async def advance(conn: asyncpg.Connection, saga: SagaRecord, state: str, step: str,
                  data: dict[str, Any] | None = None, *, finished: bool = False) -> SagaRecord:
    """Moves the saga from `saga.state` to `state`, logging `step`; `data` is merged into the
    saga's data. Raises `SagaMoved` if the saga is no longer in `saga.state`."""
    merged = {**saga.data, **(data or {})}
    row = await SQL.advance.fetchrow(
        conn, id=saga.id, state=state, data=json.dumps(merged, default=str), finished=finished,
        from_state=saga.state, step=step, step_data=json.dumps(data or {}, default=str))
    if row is None:
        raise SagaMoved(f"saga {saga.id} is no longer {saga.state}")
    return _record(row)


async def note_failure(conn: asyncpg.Connection, saga: SagaRecord, step: str, error: str,
                       retry_in_s: float) -> None:
    """A step that could not finish: logged, and the next attempt put off."""
    await SQL.put_off.execute(conn, id=saga.id, retry_in_s=retry_in_s)
    await _log(conn, saga.id, saga.reservation_id, step, "retry", {"error": error[:500]})


async def due(conn: asyncpg.Connection, *, limit: int = 100) -> list[SagaRecord]:
    """Unfinished sagas whose next attempt is due and that no runner holds, oldest first."""
    rows = await SQL.due.fetch(conn, limit=limit)
    return [_record(r) for r in rows]


async def steps(conn: asyncpg.Connection, saga_id: UUID) -> list[tuple[str, str]]:
    rows = await SQL.steps.fetch(conn, saga_id=saga_id)
    return [(r["step"], r["status"]) for r in rows]


async def claim(conn: asyncpg.Connection, reservation_id: UUID, *, owner: UUID,
                lease_s: float) -> SagaRecord | None:
    """The reservation's saga, its lease now held by `owner` for `lease_s`; None if another
    runner holds it (or there is no saga)."""
    row = await SQL.claim.fetchrow(conn, reservation_id=reservation_id, owner=owner,
                                   lease_s=lease_s)
    return None if row is None else _record(row)


async def renew(conn: asyncpg.Connection, saga_id: UUID, *, owner: UUID,
                lease_s: float) -> bool:
    """Extends `owner`'s lease; False if it is no longer theirs."""
    return bool(await SQL.renew.fetchval(conn, id=saga_id, owner=owner, lease_s=lease_s))


async def release(conn: asyncpg.Connection, saga_id: UUID, *, owner: UUID) -> None:
    await SQL.release.execute(conn, id=saga_id, owner=owner)


async def postpone(conn: asyncpg.Connection, saga_id: UUID, until: datetime) -> None:
    """Puts the next attempt off until `until` (a payment window still open)."""
    await SQL.postpone.execute(conn, id=saga_id, until=until)


async def _log(conn: asyncpg.Connection, saga_id: UUID, reservation_id: UUID, step: str,
               status: str, data: dict[str, Any]) -> None:
    await SQL.log.execute(conn, saga_id=saga_id, reservation_id=reservation_id, step=step,
                          status=status, data=json.dumps(data, default=str))
