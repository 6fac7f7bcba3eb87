"""The audit log: security-relevant events (login failures, lockouts, 401/403/429, rejected
input) written to PostgreSQL in batches, off the request path. If the queue is full, the
oldest entries are dropped and counted, so a flood can never slow requests down."""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from engine.background import BackgroundJob
from engine.store.queries import load_queries

log = logging.getLogger(__name__)
SQL = load_queries("api", "audit_log.sql")


@dataclass(frozen=True)
class AuditEntry:
    action: str
    outcome: str
    status_code: int | None = None
    user_id: str | None = None
    ip: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class AuditLog:
    def __init__(self, pool: asyncpg.Pool | None, *, capacity: int = 10_000,
                 flush_every_s: float = 0.5) -> None:
        self._pool = pool
        self._pending: deque[AuditEntry] = deque(maxlen=capacity)
        self._job = BackgroundJob("audit log flush", self.flush, every_s=flush_every_s,
                                  logger=log)
        self.dropped = 0

    def record(self, entry: AuditEntry) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(entry)

    async def start(self) -> None:
        if self._pool is not None:
            self._job.start()

    async def flush(self) -> int:
        """Writes what is pending now; returns how many rows were written."""
        if self._pool is None or not self._pending:
            return 0
        batch = list(self._pending)
        self._pending.clear()
        try:
            await SQL.insert_entries.execute(
                self._pool, at=[e.at for e in batch], user_id=[_uuid(e.user_id) for e in batch],
                ip=[e.ip for e in batch], action=[e.action for e in batch],
                outcome=[e.outcome for e in batch],
                status_code=[e.status_code for e in batch],
                details=[json.dumps(e.details) for e in batch])
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("audit log write failed, %d entries kept for later: %s", len(batch),
                        exc)
            self._pending.extendleft(reversed(batch))
            return 0
        return len(batch)

    async def close(self) -> None:
        await self._job.stop()
        await self.flush()


def _uuid(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None
