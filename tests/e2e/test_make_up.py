"""`make up`, the README's command, on its own Ray instance and embedded stores: it prints
where it listens, creates the demo stadium and its shards, and SIGTERM or Ctrl-C stops
everything it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis

from engine.store.pool import connect

ROOT = Path(__file__).resolve().parents[2]


def _start(data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TIKETI_DATA_DIR": str(data_dir), "TIKETI_NAMESPACE": "makeup"}
    env.pop("RAY_ADDRESS", None)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.Popen(["make", "--no-print-directory", "up"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_until_up(proc: subprocess.Popen[str], timeout: float = 240.0) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("make up ended early:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("Stop with"):
            return lines
    raise AssertionError("make up did not come up:\n" + "".join(lines))


def _stop_and_check(proc: subprocess.Popen[str], how: str) -> None:
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert len(family) > 5, "make, the engine, PostgreSQL, Redis and Ray are running"
    if how == "sigterm":
        os.kill(proc.pid, signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=90)
    deadline = time.monotonic() + 30
    alive = family
    while time.monotonic() < deadline:
        alive = [p for p in family if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.5)
    assert not alive, f"left behind: {[psutil.Process(p).cmdline()[:2] for p in alive]}"


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
async def test_make_up_runs_the_engine_and_stops_cleanly(tmp_path: Path, how: str) -> None:
    proc = _start(tmp_path)
    try:
        lines = _wait_until_up(proc)
        text = "".join(lines)
        assert "TIKETI engine is up" in text and "47,400 seats" in text
        state = json.loads((tmp_path / "engine.json").read_text())
        assert state["database_url"].startswith("postgresql://postgres@127.0.0.1:")
        assert state["redis_url"].startswith("redis://127.0.0.1:")

        conn = await connect(state["database_url"])
        try:
            seats = await conn.fetchval("SELECT count(*) FROM seats WHERE event_id = $1",
                                        uuid.UUID(state["events"][0]["id"]))
        finally:
            await conn.close()
        assert seats == 47_400

        client = redis.Redis.from_url(state["redis_url"])
        try:
            event_id = state["events"][0]["id"]
            assert client.config_get("appendonly")["appendonly"] == "yes"
            for shard in range(state["events"][0]["seat_shards"]):
                assert client.exists(f"makeup:{{{event_id}:seats:{shard}}}:snapshot")
            assert client.exists(f"makeup:{{{event_id}:queue}}:summary")
        finally:
            client.close()
        _stop_and_check(proc, how)
        assert not (tmp_path / "engine.json").exists(), "the engine shut down in order"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
