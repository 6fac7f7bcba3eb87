"""The saga log: each saga's current state (table `sagas`) and every step it took (`saga_log`),
written in the caller's transaction, so a state and the change it records commit together.
An advisory lock per reservation keeps one runner per saga across processes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from engine.store.errors import NotFound


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
                data: dict[str, Any]) -> SagaRecord:
    """The reservation's saga of `kind`, created in `state` unless it exists."""
    row = await conn.fetchrow(
        """
        INSERT INTO sagas (kind, reservation_id, state, data) VALUES ($1, $2, $3, $4::jsonb)
        ON CONFLICT (reservation_id) WHERE kind = 'purchase' DO NOTHING
        RETURNING *
        """, kind, reservation_id, state, json.dumps(data))
    if row is None:
        return await for_reservation(conn, reservation_id)
    await _log(conn, row["id"], reservation_id, "start", state, data)
    return _record(row)


async def for_reservation(conn: asyncpg.Connection, reservation_id: UUID) -> SagaRecord:
    saga = await find_for_reservation(conn, reservation_id)
    if saga is None:
        raise NotFound(f"no saga for reservation {reservation_id}")
    return saga


async def find_for_reservation(conn: asyncpg.Connection, reservation_id: UUID
                               ) -> SagaRecord | None:
    row = await conn.fetchrow(
        "SELECT * FROM sagas WHERE reservation_id = $1 AND kind = 'purchase'", reservation_id)
    return None if row is None else _record(row)


async def advance(conn: asyncpg.Connection, saga: SagaRecord, state: str, step: str,
                  data: dict[str, Any] | None = None, *, finished: bool = False) -> SagaRecord:
    """Moves the saga to `state`, logging `step`; `data` is merged into the saga's data."""
    merged = {**saga.data, **(data or {})}
    row = await conn.fetchrow(
        """
        UPDATE sagas SET state = $2, data = $3::jsonb, updated_at = now(), attempts = 0,
            next_attempt_at = now(),
            finished_at = CASE WHEN $4 THEN now() ELSE NULL END
        WHERE id = $1 RETURNING *
        """, saga.id, state, json.dumps(merged, default=str), finished)
    if row is None:
        raise NotFound(f"no saga {saga.id}")
    await _log(conn, saga.id, saga.reservation_id, step, state, data or {})
    return _record(row)


async def note_failure(conn: asyncpg.Connection, saga: SagaRecord, step: str, error: str,
                       retry_in_s: float) -> None:
    """A step that could not finish: logged, and the next attempt put off."""
    await conn.execute(
        """
        UPDATE sagas SET attempts = attempts + 1, updated_at = now(),
            next_attempt_at = now() + make_interval(secs => $2)
        WHERE id = $1
        """, saga.id, retry_in_s)
    await _log(conn, saga.id, saga.reservation_id, step, "retry", {"error": error[:500]})


async def due(conn: asyncpg.Connection, *, limit: int = 100) -> list[SagaRecord]:
    """Unfinished sagas whose next attempt is due, oldest first."""
    rows = await conn.fetch(
        """
        SELECT * FROM sagas WHERE finished_at IS NULL AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT $1
        """, limit)
    return [_record(r) for r in rows]


async def steps(conn: asyncpg.Connection, saga_id: UUID) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT step, status FROM saga_log WHERE saga_id = $1 ORDER BY id", saga_id)
    return [(r["step"], r["status"]) for r in rows]


async def try_lock(conn: asyncpg.Connection, reservation_id: UUID) -> bool:
    """A session lock on the reservation's saga (released by `unlock` or the session's end)."""
    return bool(await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtextextended('saga:' || $1::text, 0))",
        str(reservation_id)))


async def unlock(conn: asyncpg.Connection, reservation_id: UUID) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtextextended('saga:' || $1::text, 0))",
                       str(reservation_id))


async def _log(conn: asyncpg.Connection, saga_id: UUID, reservation_id: UUID, step: str,
               status: str, data: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO saga_log (saga_id, reservation_id, step, status, data) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        saga_id, reservation_id, step, status, json.dumps(data, default=str))
