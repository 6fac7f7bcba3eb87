from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis
import redis.asyncio as aioredis

from engine.local import is_running
from engine.local.postgres import EmbeddedPostgres
from engine.local.redis_server import EmbeddedRedis
from engine.local.stores import LocalStores
from engine.settings import Settings, StoreSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def listening_addresses(pid: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


def start_and_abandon(module: str, cls: str, data_dir: Path) -> int:
    """Starts a server in another Python process that exits without stopping it."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        f"from engine.local.{module} import {cls}\n"
        f"server = {cls}(Path(sys.argv[1]))\n"
        "server.start()\n"
        "print(server.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True, text=True, check=True, env=env, cwd=PROJECT_ROOT, timeout=60,
    )
    return int(out.stdout.split()[-1])


async def test_postgres_answers_on_localhost_only(postgres: EmbeddedPostgres) -> None:
    assert postgres.dsn.startswith("postgresql://postgres@127.0.0.1:")
    assert postgres.dsn.endswith("/tiketi")
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SELECT current_database()") == "tiketi"
    finally:
        await conn.close()
    assert postgres.pid is not None
    assert listening_addresses(postgres.pid) == {"127.0.0.1"}


async def test_redis_answers_on_localhost_only_with_aof(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    assert redis_server.url.startswith("redis://127.0.0.1:")
    assert await redis_client.ping()
    assert await redis_client.config_get("appendonly") == {"appendonly": "yes"}
    assert await redis_client.config_get("save") == {"save": ""}
    assert await redis_client.config_get("bind") == {"bind": "127.0.0.1"}
    assert redis_server.pid is not None
    assert listening_addresses(redis_server.pid) == {"127.0.0.1"}


async def test_postgres_restart_keeps_data_and_stop_leaves_no_process(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    conn = await asyncpg.connect(server.start())
    await conn.execute("CREATE TABLE kept (value text)")
    await conn.execute("INSERT INTO kept VALUES ($1)", "survives")
    await conn.close()
    first_pid = server.pid
    assert first_pid is not None
    server.stop()
    server.stop()
    assert not psutil.pid_exists(first_pid)
    assert (server.pid, server.port) == (None, None)
    with pytest.raises(RuntimeError):
        _ = server.dsn
    try:
        conn = await asyncpg.connect(server.start())
        assert await conn.fetchval("SELECT value FROM kept") == "survives"
        await conn.close()
    finally:
        second_pid = server.pid
        server.stop()
    assert second_pid is not None
    assert not psutil.pid_exists(second_pid)
    assert (tmp_path / "postgres.log").exists()


def test_redis_restart_keeps_data_and_stop_leaves_no_process(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        with redis.Redis.from_url(server.url) as client:
            client.set("kept", "survives")
        first_pid = server.pid
    assert first_pid is not None
    assert not psutil.pid_exists(first_pid)
    assert (tmp_path / "redis" / "appendonly.aof").exists()
    with EmbeddedRedis(tmp_path) as server, redis.Redis.from_url(server.url) as client:
        assert client.get("kept") == b"survives"
        second_pid = server.pid
    assert second_pid is not None
    assert not psutil.pid_exists(second_pid)


def test_postgres_left_running_by_an_earlier_run_is_stopped_first(tmp_path: Path) -> None:
    stale = start_and_abandon("postgres", "EmbeddedPostgres", tmp_path)
    assert is_running(stale)
    with EmbeddedPostgres(tmp_path) as server:
        assert not is_running(stale)
        assert server.pid != stale
    assert not is_running(stale)


def test_redis_left_running_by_an_earlier_run_is_stopped_first(tmp_path: Path) -> None:
    stale = start_and_abandon("redis_server", "EmbeddedRedis", tmp_path)
    assert is_running(stale)
    with EmbeddedRedis(tmp_path) as server, redis.Redis.from_url(server.url) as client:
        assert not is_running(stale)
        assert client.ping()


def test_fixed_port_is_used(tmp_path: Path) -> None:
    probe = EmbeddedRedis(tmp_path / "probe")
    probe.start()
    port = probe.port
    probe.stop()
    assert port is not None
    with EmbeddedRedis(tmp_path, port=port) as server:
        assert server.url == f"redis://127.0.0.1:{port}/0"


def test_local_stores_start_only_what_is_unset_and_stop_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data",
                        stores=StoreSettings(database_url="postgresql://elsewhere/db"))
    with LocalStores(settings) as stores:
        assert stores.database_url == "postgresql://elsewhere/db"
        assert [type(s) for s in stores.started] == [EmbeddedRedis]
        with redis.Redis.from_url(stores.redis_url) as client:
            assert client.ping()
        pid = stores.started[0].pid
    assert pid is not None
    assert not psutil.pid_exists(pid)


def test_local_stores_stop_what_they_started_on_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    pids: list[int | None] = []

    def fail_inside() -> None:
        with LocalStores(settings) as stores:
            assert stores.database_url.startswith("postgresql://postgres@127.0.0.1:")
            assert stores.redis_url.startswith("redis://127.0.0.1:")
            pids.extend(s.pid for s in stores.started)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        fail_inside()
    assert len(pids) == 2
    assert all(pid is not None and not psutil.pid_exists(pid) for pid in pids)


def test_local_stores_start_nothing_when_both_are_configured(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", stores=StoreSettings(
        database_url="postgresql://db/x", redis_url="redis://r/0"))
    with LocalStores(settings) as stores:
        assert stores.started == []
        assert (stores.database_url, stores.redis_url) == ("postgresql://db/x", "redis://r/0")
    assert not (tmp_path / "data").exists()


def test_servers_do_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    """Started by a process that is then killed outright, both servers stop on their own."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from engine.local.postgres import EmbeddedPostgres\n"
        "from engine.local.redis_server import EmbeddedRedis\n"
        "pg = EmbeddedPostgres(Path(sys.argv[1]) / 'pg'); pg.start()\n"
        "rd = EmbeddedRedis(Path(sys.argv[1]) / 'rd'); rd.start()\n"
        "print(pg.pid, rd.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert all(psutil.pid_exists(p) for p in pids)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
            psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
            for p in pids):
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids)
