from __future__ import annotations

import json

import asyncpg


async def init_connection(conn: asyncpg.Connection) -> None:
    """Makes jsonb columns take and return Python objects (via json)."""
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
    )


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    return conn


async def keep_session(conn: asyncpg.Connection) -> None:
    """A released connection goes back to the pool as it is. Pooled code leaves no session
    state behind (no SET, LISTEN or session advisory lock; an unfinished transaction is still
    rolled back), so asyncpg's reset query, one more round trip at every release, is skipped."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=init_connection, reset=keep_session
    )
