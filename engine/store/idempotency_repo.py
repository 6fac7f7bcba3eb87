"""Stored replies of POST requests that carried an `Idempotency-Key`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from engine.store.queries import load_queries

SQL = load_queries("engine.store", "idempotency.sql")


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
        inserted = await SQL.insert_key.fetchval(  # the usual case, a new key: one statement
            conn, scope=scope, user_id=user_id, key=key, request_hash=request_hash)
        if inserted:
            return Claim("run")
        async with conn.transaction():
            row = await SQL.lock_key.fetchrow(
                conn, scope=scope, user_id=user_id, key=key, lease_s=lease_s)
            if row is None:
                continue
            if row["request_hash"] != request_hash:
                return Claim("mismatch")
            if row["state"] == "done":
                return Claim("replay", row["status_code"], json.loads(row["response"]))
            if not row["abandoned"]:
                return Claim("in_flight")
            await SQL.touch_key.execute(conn, scope=scope, user_id=user_id, key=key)
            return Claim("run")
    return Claim("in_flight")


async def finish(conn: asyncpg.Connection, *, scope: str, user_id: UUID, key: str,
                 status_code: int, response: Any) -> None:
    await SQL.finish_key.execute(
        conn, scope=scope, user_id=user_id, key=key, status_code=status_code,
        response=json.dumps(response, default=str))


async def abandon(conn: asyncpg.Connection, *, scope: str, user_id: UUID, key: str) -> None:
    """Forgets an attempt that ended without a reply worth keeping (a 5xx): a retry runs."""
    await SQL.abandon_key.execute(conn, scope=scope, user_id=user_id, key=key)
