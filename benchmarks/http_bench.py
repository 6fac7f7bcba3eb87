"""Requests per second and p50/p99 latency at 64 concurrent clients for the API's hot paths —
queue status, seat layout, seat lock — and, in the same run and with the same client, a
hello-world Ray Serve deployment and a plain uvicorn + Starlette hello-world.

The engine runs as `make up` runs it (embedded stores, local Ray, Serve in its high-throughput
HAProxy mode), on this machine. The load comes from one process of lean asyncio HTTP/1.1
keep-alive connections, one per client; warm-up requests are not counted. The rate limit is
raised for the run (every request still passes through the limiter). Results, with the
machine and the versions, go to `benchmarks/results/http_bench.json`.

Run: `python -m benchmarks.http_bench` (`--help` for the knobs)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.checks import SAMPLE_BYTES, UnexpectedStatus, check_statuses
from benchmarks.engine_bench import machine

RESULTS = Path(__file__).parent / "results" / "http_bench.json"
TARGETS = {"queue_status": 0.75, "seat_lock": 0.50}


@dataclass
class Result:
    name: str
    method: str
    path: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    statuses: dict[str, int] = field(default_factory=dict)
    ratio_to_serve_hello: float | None = None
    ratio_to_uvicorn_hello: float | None = None
    notes: str = ""
    rounds_rps: list[float] = field(default_factory=list)


class Stats:
    """The answers of one round: latencies and statuses of those in the measured window, and
    every answer's status (warm-up included) with a body of each, for `check`."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.all_statuses: dict[int, int] = {}
        self.samples: dict[int, bytes] = {}
        self.duration = 1.0

    def record(self, status: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def answered(self, status: int, body: bytes) -> None:
        self.all_statuses[status] = self.all_statuses.get(status, 0) + 1
        if status not in self.samples:
            self.samples[status] = body[:SAMPLE_BYTES]

    def check(self, what: str, expected: Collection[int]) -> None:
        """`UnexpectedStatus` unless every answer of the round had an expected status."""
        check_statuses(what, self.all_statuses, expected, self.samples)


@dataclass(frozen=True)
class Answer:
    status: int
    keep: bool  # the server keeps the connection open
    head: bytes
    body: bytes  # as sent: compressed if the server compressed it

    def header(self, name: bytes) -> bytes | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None


async def _read_response(reader: asyncio.StreamReader) -> Answer:
    """Reads one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = False
    keep = True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep = False
    body = b""
    if chunked:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunks.append((await reader.readexactly(size + 2))[:-2])
            if size == 0:
                break
        body = b"".join(chunks)
    elif length:
        body = await reader.readexactly(length)
    return Answer(status, keep, head, body)


async def load(host: str, port: int, build: Callable[[int, int], bytes], *, clients: int,
               warmup_s: float, duration_s: float, limit: int | None = None) -> Stats:
    """`clients` connections sending `build(client, n)` requests back to back."""
    stats = Stats()
    start = time.perf_counter()
    counted_from = start + warmup_s
    stop_at = counted_from + duration_s
    sent = 0

    async def client(k: int) -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection(host, port)
        n = 0
        try:
            while time.perf_counter() < stop_at and (limit is None or sent < limit):
                request = build(k, n)
                n += 1
                sent += 1
                t0 = time.perf_counter()
                writer.write(request)
                answer = await _read_response(reader)
                if t0 >= counted_from:
                    stats.record(answer.status, time.perf_counter() - t0)
                stats.answered(answer.status, answer.body)
                if not answer.keep:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    stats.duration = min(time.perf_counter(), stop_at) - counted_from
    return stats


def summarise(name: str, method: str, path: str, stats: Stats, notes: str = "") -> Result:
    lat = sorted(stats.latencies)
    duration = max(1e-9, stats.duration)
    ok = sum(n for s, n in stats.statuses.items() if s < 400)
    return Result(
        name=name, method=method, path=path, rps=round(len(lat) / duration, 1),
        p50_ms=round(1000 * statistics.median(lat), 2) if lat else 0.0,
        p99_ms=round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2) if lat else 0.0,
        requests=len(lat), errors=len(lat) - ok,
        statuses={str(s): n for s, n in sorted(stats.statuses.items())}, notes=notes)


def get(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: bench"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: bench", "Content-Type: application/json",
             f"Content-Length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray import serve

    from api.security.tokens import TokenService
    from engine.actors.cluster import connect_ray, disconnect_ray
    from engine.core.stadium import build_stadium
    from engine.local import free_port
    from engine.local.stores import LocalStores
    from engine.provision import create_event
    from engine.serve.context import signing_key
    from engine.serve.deploy import deploy, ha_proxy_environment, replica_settings
    from engine.settings import Settings
    from engine.store.migrate import apply_migrations
    from engine.store.pool import connect
    from engine.store.records import SaleSettings

    data = Path(tempfile.mkdtemp(prefix="tiketi-http-bench-"))
    base = Settings.from_env()
    settings = replace(
        base, data_dir=data, namespace="httpbench",
        stores=replace(base.stores, database_url=None, redis_url=None),
        ray=replace(base.ray, address=None),
        http=replace(base.http, port=free_port(), metrics_port=free_port(),
                     haproxy_stats_port=free_port()),
        security=replace(base.security, rate_limit_per_min=1_000_000_000),
        demo=replace(base.demo, enabled=False))
    results: dict[str, Result] = {}
    wire: dict[str, dict[str, Any]] = {}
    with LocalStores(settings) as stores:
        settings = replica_settings(settings, database_url=stores.database_url,
                                    redis_url=stores.redis_url)
        conn = await connect(stores.database_url)
        await apply_migrations(conn)
        await conn.close()
        venue = build_stadium()

        async def new_event(title: str) -> str:
            """An event on sale, with its own shards (opened by the API on first use)."""
            conn = await connect(stores.database_url)
            try:
                now = datetime.now(UTC)
                event = await create_event(
                    conn, title=title, venue=venue, category="bench",
                    starts_at=now + timedelta(days=1), sale_opens_at=now - timedelta(minutes=1),
                    shard_count=settings.shards.per_event,
                    settings=SaleSettings(admission_rate=0.001, active_cap=1, per_user_limit=10,
                                          heartbeat_timeout_s=3_600, hold_ttl_s=3_600,
                                          hold_max_lifetime_s=3_600))
            finally:
                await conn.close()
            return str(event.id)

        event_id = await new_event("HTTP bench")
        ha_proxy_environment(settings)
        connect_ray(settings)
        uvicorn_port = free_port()
        hello = start_uvicorn_hello(uvicorn_port)
        try:
            deploy(settings)
            serve.run(hello_deployment(settings), name="hello", route_prefix="/hello")
            key = signing_key(settings)
            tokens = TokenService(signing=key, verification=[key.verification])
            port = settings.http.port
            host = "127.0.0.1"
            clients = args.clients
            common = {"clients": clients, "warmup_s": args.warmup, "duration_s": args.duration}
            await _wait_http(host, port, get("/healthz"))
            await _wait_http(host, uvicorn_port, get("/"))

            targets = Targets(host, port, uvicorn_port, event_id, venue, tokens, clients,
                              new_event)
            chosen = [n for n in BENCHMARKS if not args.only or n in args.only.split(",")]
            rounds: dict[str, list[Result]] = {name: [] for name in chosen}
            # Rounds interleave the endpoints, so a slow spell of the machine falls on all.
            for round_no in range(args.rounds):
                for name in chosen:
                    spec = await getattr(targets, name)()
                    print(f"measuring {name} (round {round_no + 1} of {args.rounds})", flush=True)
                    stats = await load(spec.host, spec.port, spec.build, limit=spec.limit,
                                       **common)
                    stats.check(f"{name} ({spec.method} {spec.path}, round {round_no + 1})",
                                spec.expected)
                    rounds[name].append(summarise(name, spec.method, spec.path, stats,
                                                  spec.notes))
            for name, measured in rounds.items():
                median = sorted(measured, key=lambda m: m.rps)[len(measured) // 2]
                median.rounds_rps = [m.rps for m in measured]
                results[name] = median
            wire = await targets.wire() if any(n.startswith("seat_layout") for n in chosen) \
                else {}
        finally:
            hello.terminate()
            hello.wait(timeout=30)
            disconnect_ray()
    shutil.rmtree(data, ignore_errors=True)  # the run's embedded stores, stopped above
    for r in results.values():
        r.ratio_to_serve_hello = _paired_ratio(r, results.get("hello_serve"))
        r.ratio_to_uvicorn_hello = _paired_ratio(r, results.get("hello_uvicorn"))
    return {
        "benchmark": "http_bench",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.http_bench " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "setup": {"clients": args.clients, "warmup_s": args.warmup,
                  "duration_s": args.duration, "rounds": args.rounds,
                  "access_log": settings.http.access_log, "ha_proxy": settings.http.ha_proxy,
                  "replicas_per_service": 1, "seat_shards": settings.shards.per_event,
                  "rate_limit": "raised for the run; every request still passes the limiter"},
        "targets": {name: {"ratio_to_serve_hello": ratio,
                           "met": (results[name].ratio_to_serve_hello or 0) >= ratio}
                    for name, ratio in TARGETS.items() if name in results},
        "endpoints": {name: asdict(r) for name, r in results.items()},
        "wire": wire,
    }


def _paired_ratio(result: Result, baseline: Result | None) -> float | None:
    """The median over rounds of the endpoint's rate over the baseline's in the same round
    (rounds are measured back to back, so each pair shares the machine's state)."""
    if baseline is None:
        return None
    ratios = [a / b for a, b in zip(result.rounds_rps, baseline.rounds_rps, strict=True) if b]
    return round(statistics.median(ratios), 3) if ratios else None


BENCHMARKS = ("hello_serve", "hello_uvicorn", "queue_status", "seat_layout",
              "seat_layout_compressed", "seat_layout_full", "seat_layout_full_compressed",
              "seat_layout_static", "seat_lock")
BROWSER_ENCODINGS = {"Accept-Encoding": "gzip, deflate, br"}
"""What browsers send: the `*_compressed` and static rounds ask as they do."""


@dataclass
class Spec:
    method: str
    path: str
    build: Callable[[int, int], bytes]
    notes: str
    host: str
    port: int
    limit: int | None = None
    expected: frozenset[int] = frozenset({200})
    """The only statuses the round may see; anything else stops the run (`benchmarks.checks`)."""


class Targets:
    """How each endpoint is loaded: its requests, prepared before the clock starts."""

    def __init__(self, host: str, port: int, uvicorn_port: int, event_id: str, venue: Any,
                 tokens: Any, clients: int, new_event: Callable[[str], Awaitable[str]]
                 ) -> None:
        self.host, self.port, self.uvicorn_port = host, port, uvicorn_port
        self.event_id, self.venue, self.tokens, self.clients = event_id, venue, tokens, clients
        self.new_event = new_event

    async def hello_serve(self) -> Spec:
        # The app's root route under the route prefix: `/hello` itself is answered with a 307
        # to `/hello/`, which is cheaper than the hello-world and is not it.
        request = get("/hello/")
        return Spec("GET", "/hello/", lambda k, n: request,
                    "a Ray Serve deployment of the hello app", self.host, self.port)

    async def hello_uvicorn(self) -> Spec:
        request = get("/")
        return Spec("GET", "/", lambda k, n: request, "plain uvicorn + Starlette, one worker",
                    self.host, self.uvicorn_port)

    async def queue_status(self) -> Spec:
        requests = []
        for k in range(self.clients):
            token = self.tokens.issue_access(user_id=str(uuid.uuid4()), email=f"f{k}@bench",
                                             role="user").token
            ticket = await _join(self.host, self.port, self.event_id, token)
            requests.append(get(f"/api/v1/queue/status/{self.event_id}?ticket={ticket}",
                                {"Authorization": f"Bearer {token}"}))
        return Spec("GET", "/api/v1/queue/status/{eventId}", lambda k, n: requests[k],
                    "a waiting user's place, answered from the queue summary", self.host,
                    self.port)

    async def seat_layout(self) -> Spec:
        request = get(f"/api/v1/seats/events/{self.event_id}?view=status")
        return Spec("GET", "/api/v1/seats/events/{eventId}?view=status", lambda k, n: request,
                    f"live status of all {self.venue.seat_count:,} seats and availability",
                    self.host, self.port)

    async def seat_layout_compressed(self) -> Spec:
        request = get(f"/api/v1/seats/events/{self.event_id}?view=status", BROWSER_ENCODINGS)
        return Spec("GET", "/api/v1/seats/events/{eventId}?view=status", lambda k, n: request,
                    "the live status, asked as browsers ask (Accept-Encoding: gzip, deflate, "
                    "br)", self.host, self.port)

    async def seat_layout_full(self) -> Spec:
        request = get(f"/api/v1/seats/events/{self.event_id}")
        return Spec("GET", "/api/v1/seats/events/{eventId}", lambda k, n: request,
                    "the whole layout (about 1.4 MB) with the live status", self.host,
                    self.port)

    async def seat_layout_full_compressed(self) -> Spec:
        request = get(f"/api/v1/seats/events/{self.event_id}", BROWSER_ENCODINGS)
        return Spec("GET", "/api/v1/seats/events/{eventId}", lambda k, n: request,
                    "the whole layout with the live status, asked as browsers ask", self.host,
                    self.port)

    async def seat_layout_static(self) -> Spec:
        url = await self.layout_url()
        request = get(url, BROWSER_ENCODINGS)
        return Spec("GET", "/api/v1/seats/events/{eventId}/layout/{digest}",
                    lambda k, n: request, "the layout alone, immutable under its digest, "
                    "asked as browsers ask", self.host, self.port)

    async def layout_url(self) -> str:
        """The layout's URL, as the live status names it."""
        answer = await ask(self.host, self.port,
                           get(f"/api/v1/seats/events/{self.event_id}?view=status"))
        check_statuses("the live status", {answer.status: 1}, {200},
                       {answer.status: answer.body})
        url = json.loads(answer.body).get("layoutUrl")
        if not isinstance(url, str):
            raise UnexpectedStatus("the live status names no layoutUrl")
        return url

    async def seat_lock(self) -> Spec:
        seats = [s.id for s in self.venue.seats()]
        per_user = 10
        users = [self.tokens.issue_access(user_id=str(uuid.uuid4()), email=f"b{u}@bench",
                                          role="user") for u in range(len(seats) // per_user)]
        event_id = await self.new_event("HTTP bench: seat locks")  # every seat on sale
        admitted = [self.tokens.issue_event_access(
            user_id=u.claims.user_id, email=u.claims.email, role="user",
            event_id=event_id, expires_at=time.time() + 3_600).token for u in users]
        order = itertools.count()

        def lock(k: int, n: int) -> bytes:
            i = next(order)
            user = i // per_user
            return post("/api/v1/seats/lock", {"eventId": event_id, "seatIds": [seats[i]]},
                        {"Authorization": f"Bearer {users[user].token}",
                         "X-Event-Access-Token": admitted[user]})

        # Every request names a seat of its own on a fresh event with seats for every request
        # the round may send (`limit`), so each must be held: a 409 here is a bug, not a
        # sold-out event, and stops the run like any other status but 201.
        return Spec("POST", "/api/v1/seats/lock", lock,
                    "one named seat per request, each a different seat; journaled before "
                    "the reply", self.host, self.port, limit=len(users) * per_user,
                    expected=frozenset({201}))


    async def wire(self) -> dict[str, dict[str, Any]]:
        """The seat layout's bytes on the wire, as each encoding a client may accept brings
        them: one request each, after the load."""
        out: dict[str, dict[str, Any]] = {}
        for name, path in (("seat_layout", f"/api/v1/seats/events/{self.event_id}?view=status"),
                           ("seat_layout_full", f"/api/v1/seats/events/{self.event_id}"),
                           ("seat_layout_static", await self.layout_url())):
            for accept in ENCODINGS:
                answer = await ask(self.host, self.port, get(path, {"Accept-Encoding": accept}))
                check_statuses(f"{name} with Accept-Encoding: {accept}", {answer.status: 1},
                               {200}, {answer.status: answer.body})
                encoding = answer.header(b"content-encoding")
                out[f"{name} ({accept})"] = {
                    "path": path, "accept_encoding": accept,
                    "content_encoding": encoding.decode() if encoding else "identity",
                    "body_bytes": len(answer.body), "head_bytes": len(answer.head),
                    "cache_control": (answer.header(b"cache-control") or b"").decode()}
        return out


ENCODINGS = ("identity", "gzip", "br")


async def ask(host: str, port: int, request: bytes) -> Answer:
    """One request on a connection of its own."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        return await _read_response(reader)
    finally:
        writer.close()


async def _wait_http(host: str, port: int, request: bytes, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            answer = await _read_response(reader)
            writer.close()
            if answer.status < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers on {host}:{port}")
        await asyncio.sleep(0.5)


def start_uvicorn_hello(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.hello_app:app", "--port", str(port),
         "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"],
        cwd=Path(__file__).resolve().parents[1])


def hello_deployment(settings: Any) -> Any:
    """The hello app as a Serve deployment with the API services' options (one replica, the
    same request limit and access log), so the ratios compare like with like."""
    from ray import serve

    from api.catalog import SERVICES_BY_NAME
    from benchmarks.hello_app import app
    from engine.serve.apps import deployment_options

    options = deployment_options(SERVICES_BY_NAME["seats"], settings)
    options["name"] = "hello"

    @serve.deployment(**options)
    @serve.ingress(app)
    class Hello:
        pass

    return Hello.bind()  # type: ignore[attr-defined]


async def _join(host: str, port: int, event_id: str, token: str) -> str:
    """Joins the event's line; the ticket. `UnexpectedStatus` unless the join answers 200."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"POST /api/v1/queue/join/{event_id} HTTP/1.1\r\nHost: bench\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n").encode())
    answer = await _read_response(reader)
    writer.close()
    check_statuses(f"POST /api/v1/queue/join/{event_id}", {answer.status: 1}, {200},
                   {answer.status: answer.body})
    body = json.loads(answer.body)
    if not body.get("ticket"):
        raise RuntimeError(f"join failed: {body}")
    return str(body["ticket"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measurements per endpoint, interleaved; the median is kept")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--only", default="", help="comma-separated endpoints (default: all)")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    try:
        report = asyncio.run(run(args))
    except UnexpectedStatus as exc:
        print(f"http_bench failed, nothing written: {exc}", file=sys.stderr)
        return 1
    print(f"{'endpoint':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs Serve':>10}"
          f"{'vs uvicorn':>12}{'errors':>8}")
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for name, r in report["endpoints"].items():
        print(f"{name:<18}{r['rps']:>9,.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
              f"{ratio(r['ratio_to_serve_hello']):>10}{ratio(r['ratio_to_uvicorn_hello']):>12}"
              f"{r['errors']:>8}")
    for name, w in report["wire"].items():
        print(f"{name}: {w['body_bytes']:,} bytes ({w['content_encoding']}), "
              f"cache-control: {w['cache_control'] or '-'}")
    for name, target in report["targets"].items():
        print(f"target {name}: >= {target['ratio_to_serve_hello']:.0%} of the Serve "
              f"hello-world: {'met' if target['met'] else 'NOT met'}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    if args.output.parent == RESULTS.parent:
        from benchmarks.render import render_http_bench

        render_http_bench(report)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
