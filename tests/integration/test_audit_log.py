"""The security audit log's batched write against a real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from api.audit import AuditEntry, AuditLog
from engine.store.pool import create_pool


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def test_a_flush_writes_the_pending_entries_in_one_batch(pool: asyncpg.Pool) -> None:
    action = f"test-{uuid.uuid4().hex[:8]}"
    user = uuid.uuid4()
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    audit = AuditLog(pool)
    audit.record(AuditEntry(action, "denied", 403, str(user), "10.0.0.1", {"path": "/x"}, at))
    audit.record(AuditEntry(action, "locked", user_id="not-a-uuid"))
    assert await audit.flush() == 2
    assert await audit.flush() == 0
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT at, user_id, ip, outcome, status_code, details FROM audit_log "
            "WHERE action = $1 ORDER BY outcome", action)
        await conn.execute("DELETE FROM audit_log WHERE action = $1", action)
    # details arrive as JSON text, which the pool's jsonb codec stores as a JSON string
    assert [(*tuple(r.values())[1:-1], json.loads(r["details"])) for r in rows] == [
        (user, "10.0.0.1", "denied", 403, {"path": "/x"}),
        (None, None, "locked", None, {}),
    ]
    assert rows[0]["at"] == at


async def test_a_failed_write_keeps_the_entries_for_later(pool: asyncpg.Pool) -> None:
    audit = AuditLog(pool)
    audit.record(AuditEntry(None, "refused by the table"))  # type: ignore[arg-type]
    assert await audit.flush() == 0
    assert [e.outcome for e in audit._pending] == ["refused by the table"]
