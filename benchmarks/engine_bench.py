"""Seat and queue operations per second, three ways:

- `core`: the pure core in this process (direct calls; the actors' GC tuning applied);
- `actor_single`: one command per Ray actor call, with the journal on;
- `actor_batch`: 100 commands per call, with the journal on;
- `actor_batch_sharded`: the same, spread over an event's seat shards (`--shards`, default 2).

A seat operation is one command: a hold of one named seat or its confirm (so a hold and its
confirm are two operations). A queue operation is a join or a status read. Each mode runs
`--repeats` times after a warm-up that is not counted; the table shows the median and the
best run, and `benchmarks/results/engine_bench.json` keeps every run, the machine and the
versions. Run: `python -m benchmarks.engine_bench` (or `make bench`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "engine_bench.json"
BATCH = 100


@dataclass
class ModeResult:
    mode: str
    seat_ops_per_s: float
    queue_ops_per_s: float
    seat_runs: list[float] = field(default_factory=list)
    queue_runs: list[float] = field(default_factory=list)
    seat_ops_per_run: int = 0
    queue_ops_per_run: int = 0
    notes: str = ""


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    versions = {}
    for package in ("ray", "redis", "asyncpg", "msgpack"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _summarise(mode: str, seat: list[float], queue: list[float], seat_n: int, queue_n: int,
               notes: str) -> ModeResult:
    return ModeResult(mode, statistics.median(seat), statistics.median(queue),
                      [round(x) for x in seat], [round(x) for x in queue], seat_n, queue_n,
                      notes)


# ---------------------------------------------------------------------------- core


def bench_core(seats: int, users: int, repeats: int) -> ModeResult:
    from engine.actors.shards import tune_gc
    from engine.core.clock import SystemClock
    from engine.core.inventory import HoldPolicy, SeatInventory
    from engine.core.waiting_room import QueuePolicy, WaitingRoom

    venue = _venue(seats)
    seat_runs, queue_runs = [], []
    for run in range(repeats + 1):
        clock = SystemClock()
        inventory = SeatInventory(venue, HoldPolicy(user_limit=10), clock, hold_prefix="b")
        ids = inventory.seat_ids
        owners = [f"user{i}" for i in range(len(ids))]
        hold_keys = [f"h{i}" for i in range(len(ids))]
        confirm_keys = [f"c{i}" for i in range(len(ids))]
        named = [[s] for s in ids]
        tune_gc()
        start = time.perf_counter()
        hold, confirm = inventory.hold, inventory.confirm
        for i in range(len(ids)):
            view = hold(owners[i], named[i], hold_keys[i])
            confirm(owners[i], view.hold_id, confirm_keys[i])
            if not i & 1023:
                inventory.events.clear()
        elapsed = time.perf_counter() - start
        if run:
            seat_runs.append(2 * len(ids) / elapsed)

        room = WaitingRoom(QueuePolicy(), clock, opens_at=0.0, seed="ab" * 16)
        names = [f"fan{i}" for i in range(users)]
        tune_gc()
        start = time.perf_counter()
        join, status = room.join, room.status
        for name in names:
            join(name)
            status(name)
        elapsed = time.perf_counter() - start
        if run:
            queue_runs.append(2 * users / elapsed)
        del inventory, room
        gc.collect()
    return _summarise("core", seat_runs, queue_runs, 2 * venue.seat_count, 2 * users,
                      "direct calls on SeatInventory and WaitingRoom")


def _venue(seats: int) -> Any:
    from engine.core.stadium import build_stadium

    scale = max(1, round(seats / 47_400))
    return build_stadium(lower_sections=24 * scale, upper_sections=28 * scale, standing=0)


# ---------------------------------------------------------------------------- actors


async def _actor_modes(seats: int, users: int, repeats: int, concurrency: int,
                       single_ops: int, shard_count: int, modes: set[str]
                       ) -> list[ModeResult]:
    from engine.actors.cluster import connect_ray, disconnect_ray
    from engine.actors.config import ShardConfig
    from engine.actors.directory import ShardDirectory
    from engine.local.stores import LocalStores
    from engine.provision import create_event
    from engine.settings import Settings
    from engine.store.migrate import apply_migrations
    from engine.store.pool import connect
    from engine.store.records import SaleSettings

    venue = _venue(seats)
    data = Path(tempfile.mkdtemp(prefix="tiketi-bench-"))
    base = Settings.from_env()
    settings = replace(base, data_dir=data, namespace="bench",
                       stores=replace(base.stores, database_url=None, redis_url=None),
                       ray=replace(base.ray, address=None))
    results = []
    with LocalStores(settings) as stores:
        conn = await connect(stores.database_url)
        await apply_migrations(conn)
        connect_ray(settings)
        try:
            directory = ShardDirectory(
                "bench",
                lambda event_id, shard: ShardConfig.from_settings(
                    settings, event_id=event_id, shard=shard,
                    database_url=stores.database_url, redis_url=stores.redis_url),
            )

            async def new_shards(shard_count: int) -> tuple[list[Any], Any]:
                now = datetime.now(UTC)
                event = await create_event(
                    conn, title="bench", venue=venue, category="bench",
                    starts_at=now + timedelta(days=1), sale_opens_at=now - timedelta(seconds=1),
                    shard_count=shard_count,
                    settings=SaleSettings(per_user_limit=10, admission_rate=1.0,
                                          active_cap=1, heartbeat_timeout_s=3_600))
                shards, _ = await directory.open_event(str(event.id), shard_count)
                return list(shards.seats), shards.queue

            plan = [("actor_single", 1, single_ops, 1),
                    ("actor_batch", BATCH, venue.seat_count * 2, 1),
                    ("actor_batch_sharded", BATCH, venue.seat_count * 2, shard_count)]
            for mode, batch, ops, k in plan:
                if mode not in modes:
                    continue
                seat_runs, queue_runs = [], []
                for run in range(repeats + 1):
                    seat_shards, queue_shard = await new_shards(k)
                    n = ops // 2 if run else min(2_000, ops // 2)
                    seat_rate = await _seat_streams(seat_shards, n, batch, concurrency)
                    queue_rate = await _queue_stream(queue_shard, min(users, n), batch,
                                                     concurrency)
                    if run:
                        seat_runs.append(seat_rate)
                        queue_runs.append(queue_rate)
                    for handle in (*seat_shards, queue_shard):
                        await handle.shutdown.remote()
                results.append(_summarise(
                    mode, seat_runs, queue_runs, ops, 2 * min(users, ops // 2),
                    f"{'one command' if batch == 1 else f'{batch} commands'} per call, "
                    f"{concurrency} calls in flight, {k} seat shard{'s' if k > 1 else ''}, "
                    "journal to Redis before every reply"))
        finally:
            disconnect_ray()
            await conn.close()
    return results


async def _pipeline(jobs: list[Callable[[], Awaitable[Any]]], concurrency: int) -> None:
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _seat_streams(shards: list[Any], n: int, batch: int, concurrency: int) -> float:
    """`n` seat holds and their confirms spread over the shards, all at once; ops per second."""
    seats = await asyncio.gather(*(s.seat_states.remote() for s in shards))
    per_shard = min([n // len(shards)] + [len(ids) for ids, _ in seats])
    started = time.perf_counter()
    await asyncio.gather(*(_seat_stream(s, ids, per_shard, batch,
                                        max(1, concurrency // len(shards)))
                           for s, (ids, _) in zip(shards, seats, strict=True)))
    return 2 * per_shard * len(shards) / (time.perf_counter() - started)


async def _seat_stream(shard: Any, ids: list[str], n: int, batch: int, concurrency: int
                       ) -> None:
    """`n` holds of one seat each, then their confirms: `2n` seat operations."""
    from engine.actors.router import call_batch
    from engine.core.commands import Confirm, Hold

    holds = [Hold(f"user{i}", (ids[i],), f"h{i}") for i in range(n)]
    hold_ids: list[str] = [""] * n

    def send_holds(start: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            views = await call_batch(shard, holds[start:start + batch])
            for k, view in enumerate(views):
                hold_ids[start + k] = view.hold_id
        return job

    def send_confirms(start: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await call_batch(shard, [Confirm(f"user{i}", hold_ids[i], f"c{i}")
                                     for i in range(start, min(n, start + batch))])
        return job

    await _pipeline([send_holds(i) for i in range(0, n, batch)], concurrency)
    await _pipeline([send_confirms(i) for i in range(0, n, batch)], concurrency)
    sold = (await shard.totals.remote())["sold"]
    if sold != n:
        raise RuntimeError(f"expected {n} seats sold, the shard has {sold}")


async def _queue_stream(shard: Any, n: int, batch: int, concurrency: int) -> float:
    """`n` joins, then `n` status reads: `2n` queue operations."""
    from engine.actors.router import call_batch
    from engine.core.commands import Join

    names = [f"fan{i}" for i in range(n)]

    def send_joins(start: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await call_batch(shard, [Join(u) for u in names[start:start + batch]])
        return job

    def send_status(start: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            if batch == 1:
                await shard.status.remote(names[start])
            else:
                await shard.status_many.remote(names[start:start + batch])
        return job

    started = time.perf_counter()
    await _pipeline([send_joins(i) for i in range(0, n, batch)], concurrency)
    await _pipeline([send_status(i) for i in range(0, n, batch)], concurrency)
    return 2 * n / (time.perf_counter() - started)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=100_000,
                        help="seats in the benchmark venue (rounded to stadium sizes)")
    parser.add_argument("--users", type=int, default=100_000, help="users joining the queue")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32, help="actor calls in flight")
    parser.add_argument("--single-ops", type=int, default=20_000,
                        help="seat operations in actor_single mode")
    parser.add_argument("--shards", type=int, default=2,
                        help="seat shards of the event in actor_batch_sharded")
    parser.add_argument("--modes", default="core,actor_single,actor_batch,actor_batch_sharded")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    modes = set(args.modes.split(","))

    results: list[ModeResult] = []
    if "core" in modes:
        results.append(bench_core(args.seats, args.users, args.repeats))
    if modes & {"actor_single", "actor_batch", "actor_batch_sharded"}:
        results += asyncio.run(_actor_modes(args.seats, args.users, args.repeats,
                                            args.concurrency, args.single_ops, args.shards,
                                            modes))

    print(f"{'mode':<21}{'seat ops/s':>12}{'queue ops/s':>13}   runs (seat | queue)")
    for r in results:
        print(f"{r.mode:<21}{r.seat_ops_per_s:>12,.0f}{r.queue_ops_per_s:>13,.0f}   "
              f"{r.seat_runs} | {r.queue_runs}")
    report = {
        "benchmark": "engine_bench",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.engine_bench " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
        "targets": {"core": {"seat_ops_per_s": 200_000},
                    "actor_batch": {"seat_ops_per_s": 50_000}},
        "modes": {r.mode: asdict(r) for r in results},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    if args.output.parent == RESULTS.parent:
        from benchmarks.render import render_engine_bench

        render_engine_bench(report)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
