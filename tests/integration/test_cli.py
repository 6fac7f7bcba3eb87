"""`tiketi migrate` against a real PostgreSQL, and bad settings refused with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg

from engine.local.postgres import EmbeddedPostgres


def _tiketi(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120, check=False)


async def test_migrate_applies_once_then_has_nothing_to_do(tmp_path: object) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")  # type: ignore[operator]
    dsn = server.start()
    try:
        first = _tiketi("migrate", DATABASE_URL=dsn)
        assert first.returncode == 0, first.stderr
        assert "0001_initial" in first.stdout
        second = _tiketi("migrate", DATABASE_URL=dsn)
        assert second.returncode == 0 and "none needed" in second.stdout
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM schema_migrations") >= 1
        finally:
            await conn.close()
    finally:
        server.stop()


def test_bad_settings_are_refused_before_anything_starts() -> None:
    result = _tiketi("up", TIKETI_PG_PORT="not-a-port")
    assert result.returncode == 2
    assert "TIKETI_PG_PORT" in result.stderr
