from __future__ import annotations

import asyncio

import asyncpg

from engine.local.postgres import EmbeddedPostgres
from engine.store.migrate import apply_migrations, migrate, migrations
from engine.store.pool import create_pool

TABLES = {
    "schema_migrations", "users", "refresh_tokens", "events", "event_sections", "seats",
    "ticket_types", "reservations", "reservation_items", "payments", "payment_logs", "saga_log",
    "sagas", "outbox", "audit_log",
}
SCRATCH_DB = "tiketi_migrations_test"


def test_migration_files_are_found_in_order() -> None:
    versions = [version for version, _ in migrations()]
    assert versions[0] == "0001_initial"
    assert versions == sorted(versions)


async def test_all_tables_exist(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    assert {r["table_name"] for r in rows} >= TABLES
    applied = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in applied] == [v for v, _ in migrations()]


async def test_second_apply_is_a_no_op(database: str) -> None:
    pool = await create_pool(database, max_size=2)
    try:
        assert await apply_migrations(pool) == []
    finally:
        await pool.close()
    assert await asyncio.to_thread(migrate, database) == []


async def test_concurrent_starters_apply_each_migration_once(postgres: EmbeddedPostgres) -> None:
    admin = await asyncpg.connect(postgres.dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        await admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
        dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
        conns = [await asyncpg.connect(dsn) for _ in range(3)]
        try:
            results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        finally:
            for c in conns:
                await c.close()
        assert sorted(results, key=len) == [[], [], [v for v, _ in migrations()]]
        assert await asyncio.to_thread(migrate, dsn) == []
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        await admin.close()


async def test_jsonb_columns_take_and_return_python_objects(conn: asyncpg.Connection) -> None:
    details = {"seats": ["A-1-1"], "amount": 150_000, "note": "좌석"}
    stored = await conn.fetchval(
        "INSERT INTO audit_log (action, outcome, details) VALUES ($1, $2, $3) RETURNING details",
        "reserve", "ok", details,
    )
    assert stored == details
    note = await conn.fetchval("SELECT details->>'note' FROM audit_log WHERE action = 'reserve'")
    assert note == "좌석"
