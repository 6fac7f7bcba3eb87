"""Schema migrations: `migrations/NNNN_name.sql`, applied in order, each in its own transaction
under an advisory lock, and recorded in `schema_migrations`."""

from __future__ import annotations

import asyncio
import re
from importlib.resources import files

import asyncpg

from engine.store.queries import load_queries

LOCK_KEY = 0x7469_6B65_7469  # "tiketi"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
SQL = load_queries("engine.store", "migrate.sql")


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
            await SQL.lock.execute(conn, key=LOCK_KEY)
            await SQL.create_table.execute(conn)
            if await SQL.is_applied.fetchval(conn, version=version):
                continue
            await conn.execute(sql)
            await SQL.record.execute(conn, version=version)
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
