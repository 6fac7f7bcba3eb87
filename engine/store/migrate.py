"""Schema migrations: `migrations/NNNN_name.sql`, applied in order, each in its own transaction
under an advisory lock, and recorded in `schema_migrations`."""

from __future__ import annotations

import asyncio
import re
from importlib.resources import files

import asyncpg

LOCK_KEY = 0x7469_6B65_7469  # "tiketi"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migrations() -> list[tuple[str, str]]:
    """(version, sql) of every migration file, in order; the version is the file's stem."""
    found: dict[str, tuple[str, str]] = {}
    for entry in files("engine.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        number = match.group(1)
        if number in found:
            raise RuntimeError(f"two migrations numbered {number}: {entry.name}")
        found[number] = (entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
    return [found[number] for number in sorted(found)]


async def apply_migrations(target: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """Applies the migrations not yet recorded; returns the versions it applied."""
    if isinstance(target, asyncpg.Pool):
        async with target.acquire() as conn:
            return await _apply(conn)
    return await _apply(target)


async def _apply(conn: asyncpg.Connection) -> list[str]:
    applied: list[str] = []
    for version, sql in migrations():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            await conn.execute(_CREATE_TABLE)
            done = await conn.fetchval(
                "SELECT true FROM schema_migrations WHERE version = $1", version
            )
            if done:
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())", version
            )
            applied.append(version)
    return applied


def migrate(dsn: str) -> list[str]:
    return asyncio.run(_migrate(dsn))


async def _migrate(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()
