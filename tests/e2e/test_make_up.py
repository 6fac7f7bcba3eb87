"""`make up`, the README's command, on its own Ray instance and embedded stores: it prints
where it listens, creates the demo stadium and its shards, and SIGTERM or Ctrl-C stops
everything it started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from engine.local import free_port
from engine.store.pool import connect

ROOT = Path(__file__).resolve().parents[2]


def _readme_journey() -> str:
    """The shell commands of the README's buyer's journey."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- journey -->", 1)[1]
    return block.split("```sh\n", 1)[1].split("```", 1)[0]


def _start(data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TIKETI_DATA_DIR": str(data_dir), "TIKETI_NAMESPACE": "makeup",
           "TIKETI_HTTP_PORT": str(free_port()), "TIKETI_METRICS_PORT": str(free_port()),
           "TIKETI_HAPROXY_STATS_PORT": str(free_port()), "TIKETI_DEMO_OPENS_IN_S": "0",
           "TIKETI_FAKE_GATEWAY_PORT": str(free_port())}
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

        async with httpx.AsyncClient(base_url=state["api_url"], timeout=30) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            password = next(line.split(" / ")[1].strip() for line in lines
                            if line.strip().startswith("Admin"))
            login = await http.post("/api/v1/auth/login", json={
                "email": state["admin_email"], "password": password})
            assert login.status_code == 200 and login.json()["user"]["role"] == "admin"
            seat_map = await http.get(f"/api/v1/seats/events/{state['events'][0]['id']}",
                                      params={"view": "status"})
            assert len(seat_map.json()["status"]) == 47_400
            metrics = await http.get(f"http://127.0.0.1:{state['metrics_port']}/metrics")
            assert "haproxy_" in metrics.text

        journey = _readme_journey()
        ran = await asyncio.to_thread(
            subprocess.run, ["bash", "-euo", "pipefail", "-c", journey], capture_output=True,
            text=True, timeout=120, env={**os.environ, "API": state["api_url"],
                                         "GATEWAY": state["payment_gateway"]})
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert '"reservationStatus":"CONFIRMED"' in ran.stdout, "the journey ends with a sale"
        audit = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "engine.cli", "audit", "--event",
                             state["events"][0]["id"]], capture_output=True, text=True,
            timeout=120, env={**os.environ, "TIKETI_DATA_DIR": str(tmp_path),
                              "TIKETI_NAMESPACE": "makeup"}, cwd=ROOT)
        assert audit.returncode == 0, audit.stdout + audit.stderr

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
        if proc.poll() is None:  # the test failed early: stop it the way an operator would
            family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(True)]
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                for pid in family:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
