"""Stored replies of POST requests that carried an `Idempotency-Key`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class Claim:
    """What a request with a key may do: `run` it (first time, or taking over an abandoned
    attempt), `replay` the stored reply, or refuse it: `mismatch` (another body) or
    `in_flight` (the first attempt is still running)."""

    outcome: str
    status_code: int | None = None
    response: Any = None


async def claim(conn: asyncpg.Connection, *, scope: str, user_id: UUID, key: str,
                request_hash: str, lease_s: float) -> Claim:
    for _ in range(3):  # a key abandoned between the two statements is claimed anew
        inserted = await conn.fetchval(  # the usual case, a new key: one statement
            """
            INSERT INTO idempotency_keys (scope, user_id, key, request_hash, state)
            VALUES ($1, $2, $3, $4, 'in_flight')
            ON CONFLICT DO NOTHING RETURNING 1
            """, scope, user_id, key, request_hash)
        if inserted:
            return Claim("run")
        async with conn.transaction():
            row = await conn.fetchrow(
                """
                SELECT request_hash, state, status_code, response,
                       updated_at < now() - make_interval(secs => $4) AS abandoned
                FROM idempotency_keys WHERE scope = $1 AND user_id = $2 AND key = $3
                FOR UPDATE
                """, scope, user_id, key, lease_s)
            if row is None:
                continue
            if row["request_hash"] != request_hash:
                return Claim("mismatch")
            if row["state"] == "done":
                return Claim("replay", row["status_code"], json.loads(row["response"]))
            if not row["abandoned"]:
                return Claim("in_flight")
            await conn.execute(
                "UPDATE idempotency_keys SET updated_at = now() "
                "WHERE scope = $1 AND user_id = $2 AND key = $3", scope, user_id, key)
            return Claim("run")
    return Claim("in_flight")


async def finish(conn: asyncpg.Connection, *, scope: str, user_id: UUID, key: str,
                 status_code: int, response: Any) -> None:
    await conn.execute(
        """
        UPDATE idempotency_keys SET state = 'done', status_code = $4, response = $5::jsonb,
            updated_at = now()
        WHERE scope = $1 AND user_id = $2 AND key = $3
        """, scope, user_id, key, status_code, json.dumps(response, default=str))


async def abandon(conn: asyncpg.Connection, *, scope: str, user_id: UUID, key: str) -> None:
    """Forgets an attempt that ended without a reply worth keeping (a 5xx): a retry runs."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND user_id = $2 AND key = $3 "
        "AND state = 'in_flight'", scope, user_id, key)
