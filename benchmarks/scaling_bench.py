"""Seat operations per second as an event's seat shards grow (1, 2, 4, 8 shards of one event)
and as events on sale at once grow (1, 2, 4, 8 events of one seat shard each), with the
machine's CPU during each run, to show where this machine saturates and why.

The engine is driven directly, not over HTTP: the events' shards are opened with the
`ShardDirectory` (each a Ray actor journaling to Redis before it answers), and a fixed number
of calls stays in flight (`--concurrency`, split evenly over all seat shards), each carrying
`--batch` commands (`call_batch`): holds of one named seat each, then their confirms. A seat
operation is one command, so a seat held and sold counts two. Each configuration is measured
for `--duration` seconds after `--warmup` seconds that are not counted; during that window the
busy share of the machine's cores (psutil) is recorded, with the CPU of each process of the
run by role (the client, the seat shards, Redis, Ray's own processes) and what the rest of the
machine used. One event with one shard is the first point of both series and runs once.

Run: `python -m benchmarks.scaling_bench` (`--help` for the knobs); it writes
`benchmarks/results/scaling_bench.{json,md,png}`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from benchmarks.report import RESULTS_DIR, markdown_table, write_report

SHARD_COUNTS = (1, 2, 4, 8)
EVENT_COUNTS = (1, 2, 4, 8)
SEATS_PER_SECTION = 25 * 28  # a lower-bowl section of the benchmark stadium
SHARD_ROLES = (("seat shards", "SeatShard"), ("queue shards", "QueueShard"),
               ("redis", "redis-server"), ("postgres", "postgres"))


# ---------------------------------------------------------------------------- CPU accounting


@dataclass
class CpuWindow:
    """CPU used during a window: machine cores busy, and cores per role of this run's
    processes (the driver and its descendants: the Ray instance, the shards, the stores)."""

    seconds: float
    machine_busy_percent: float
    machine_cores_busy: float
    cores_by_role: dict[str, float]
    rest_of_machine_cores: float
    cpu_seconds_by_role: dict[str, float] = field(default_factory=dict)


def role_of(process: psutil.Process, roles: Sequence[tuple[str, str]]) -> str:
    """The first role whose marker appears in the process's command line (Ray actor
    processes name their class there: `ray::SeatShard.execute_packed`)."""
    if process.pid == os.getpid():
        return "driver (client)"
    try:
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "other of this run"
    for role, marker in roles:
        if marker in command:
            return role
    if command.startswith("ray::") or "/ray/" in command:
        return "ray (gcs, raylet, workers)"
    return "other of this run"


def run_processes(root: int | None = None) -> list[psutil.Process]:
    """This run's processes: the driver and everything it started (read only)."""
    me = psutil.Process(root or os.getpid())
    return [me, *me.children(recursive=True)]


def _process_cpu(processes: Sequence[psutil.Process]) -> dict[tuple[int, float], float]:
    times = {}
    for p in processes:
        try:
            with p.oneshot():
                t = p.cpu_times()
                times[(p.pid, p.create_time())] = t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return times


class CpuMeter:
    """Samples CPU times at the start and the end of a window."""

    def __init__(self, roles: Sequence[tuple[str, str]]) -> None:
        self._roles = roles

    def start(self) -> None:
        self._processes = run_processes()
        self._role = {(p.pid, _created(p)): role_of(p, self._roles) for p in self._processes}
        self._t0 = time.monotonic()
        self._machine0 = psutil.cpu_times()
        self._proc0 = _process_cpu(self._processes)

    def stop(self) -> CpuWindow:
        proc1 = _process_cpu(self._processes)
        machine1 = psutil.cpu_times()
        seconds = max(1e-9, time.monotonic() - self._t0)
        by_role: dict[str, float] = {}
        for key, used in proc1.items():
            role = self._role.get(key, "other of this run")
            by_role[role] = by_role.get(role, 0.0) + used - self._proc0.get(key, used)
        busy = _busy(machine1) - _busy(self._machine0)
        total = sum(machine1) - sum(self._machine0)
        cores = psutil.cpu_count() or 1
        busy_share = busy / total if total > 0 else 0.0
        ours = sum(by_role.values()) / seconds
        return CpuWindow(
            seconds=round(seconds, 3),
            machine_busy_percent=round(100 * busy_share, 1),
            machine_cores_busy=round(busy_share * cores, 2),
            cores_by_role={r: round(v / seconds, 3) for r, v in sorted(by_role.items())},
            rest_of_machine_cores=round(max(0.0, busy_share * cores - ours), 2),
            cpu_seconds_by_role={r: round(v, 3) for r, v in sorted(by_role.items())})


def _created(p: psutil.Process) -> float:
    try:
        return float(p.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0.0


def _busy(t: Any) -> float:
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


@contextlib.contextmanager
def removing(path: Path) -> Iterator[None]:
    """Removes a run's data directory at the end (enter it before the stores that use it)."""
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Config:
    series: tuple[str, ...]  # the series this point belongs to: "shards", "events"
    events: int
    shards_per_event: int

    @property
    def seat_shards(self) -> int:
        return self.events * self.shards_per_event

    @property
    def label(self) -> str:
        events = f"{self.events} event{'s' if self.events > 1 else ''}"
        return f"{events} x {self.shards_per_event} shard{'s' if self.shards_per_event > 1 else ''}"


@dataclass
class Measurement:
    series: list[str]
    events: int
    shards_per_event: int
    seat_shards: int
    ops: int
    seconds: float
    ops_per_s: float
    calls_in_flight: int
    commands_per_call: int
    exhausted: bool
    setup_s: float
    cpu: CpuWindow


def configurations(shard_counts: Sequence[int], event_counts: Sequence[int]) -> list[Config]:
    """One event of K shards for each K, then N events of one shard each; the one-event
    one-shard point is shared by both series."""
    configs = [Config(("shards", "events") if k == 1 and 1 in event_counts else ("shards",),
                      1, k) for k in shard_counts]
    configs += [Config(("events",), n, 1) for n in event_counts
                if not (n == 1 and 1 in shard_counts)]
    return configs


def venue_for(seats: int) -> Any:
    """A horseshoe of 700-seat sections with at least `seats` seats (no floor, no standing)."""
    from engine.core.stadium import build_stadium

    sections = max(8, math.ceil(seats / SEATS_PER_SECTION))
    return build_stadium(name=f"Scaling bench {sections * SEATS_PER_SECTION}", floor_blocks=0,
                         lower_sections=sections, upper_sections=0, standing=0)


class ShardLoad:
    """The seats of one shard, handed out in batches, in order."""

    def __init__(self, handle: Any, seat_ids: list[str], prefix: str) -> None:
        self.handle = handle
        self.seat_ids = seat_ids
        self.prefix = prefix
        self.next = 0
        self.confirmed = 0

    def take(self, n: int) -> range | None:
        if self.next >= len(self.seat_ids):
            return None
        start = self.next
        self.next = min(len(self.seat_ids), start + n)
        return range(start, self.next)


async def drive(loads: Sequence[ShardLoad], *, concurrency: int, batch: int, warmup_s: float,
                duration_s: float) -> tuple[int, float, bool]:
    """Holds and confirms seats with `concurrency` calls in flight over all shards; returns
    the seat operations completed in the measured window, its length and whether a shard ran
    out of seats (the window then ends there)."""
    from engine.actors.router import call_batch
    from engine.core.commands import Confirm, Hold

    loop_start = time.perf_counter()
    t0 = loop_start + warmup_s
    t1 = t0 + duration_s
    counted = 0
    end = t1

    def count(n: int) -> None:
        nonlocal counted
        if t0 <= time.perf_counter() <= end:
            counted += n

    async def worker(load: ShardLoad) -> None:
        nonlocal end
        while time.perf_counter() < end:
            seats = load.take(batch)
            if seats is None:
                end = max(t0, min(end, time.perf_counter()))
                return
            users = [f"{load.prefix}u{i}" for i in seats]
            views = await call_batch(load.handle, [
                Hold(users[k], (load.seat_ids[i],), f"h{i}") for k, i in enumerate(seats)])
            count(len(views))
            sold = await call_batch(load.handle, [
                Confirm(users[k], _hold_id(view), f"c{i}")
                for k, (i, view) in enumerate(zip(seats, views, strict=True))])
            for outcome in sold:
                _hold_id(outcome)
            load.confirmed += len(sold)
            count(len(sold))

    per_shard = _spread(concurrency, len(loads))
    await asyncio.gather(*(worker(load) for load, n in zip(loads, per_shard, strict=True)
                           for _ in range(n)))
    if end <= t0:
        raise RuntimeError("the seats ran out during the warm-up: give more (--seats)")
    return counted, end - t0, end < t1


def _hold_id(outcome: Any) -> str:
    if isinstance(outcome, Exception):
        raise RuntimeError(f"a seat command was refused: {outcome!r}")
    return str(outcome.hold_id)


def _spread(total: int, parts: int) -> list[int]:
    """`total` split over `parts` as evenly as possible, at least one each."""
    base, extra = divmod(max(total, parts), parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


# ---------------------------------------------------------------------------- a configuration


@dataclass
class Stack:
    """What a measurement needs: a way to create events and a directory to open shards."""

    database_url: str
    directory: Any


async def measure(stack: Stack, config: Config, *, seats: int, concurrency: int, batch: int,
                  warmup_s: float, duration_s: float) -> Measurement:
    """Creates the configuration's events, opens their shards, drives them, closes them."""
    started = time.perf_counter()
    venue = venue_for(seats // config.events)
    event_ids = [await _new_event(stack.database_url, venue, config.shards_per_event, k)
                 for k in range(config.events)]
    try:
        opened = await asyncio.gather(*(stack.directory.open_event(e, config.shards_per_event)
                                        for e in event_ids))
        handles = [h for shards, _ in opened for h in shards.seats]
        states = await asyncio.gather(*(h.seat_states.remote() for h in handles))
        loads = [ShardLoad(h, list(ids), f"s{k}") for k, (h, (ids, _)) in
                 enumerate(zip(handles, states, strict=True))]
        setup_s = time.perf_counter() - started
        meter = CpuMeter(SHARD_ROLES)
        meter_task = asyncio.get_running_loop().create_task(_meter_window(meter, warmup_s,
                                                                          duration_s))
        ops, seconds, exhausted = await drive(loads, concurrency=concurrency, batch=batch,
                                              warmup_s=warmup_s, duration_s=duration_s)
        cpu = await meter_task
        await _check_sold(loads)
    finally:
        for event_id in event_ids:
            await stack.directory.close_event(event_id, config.shards_per_event)
    return Measurement(list(config.series), config.events, config.shards_per_event,
                       config.seat_shards, ops, round(seconds, 3), round(ops / seconds, 1),
                       concurrency, batch, exhausted, round(setup_s, 1), cpu)


async def _meter_window(meter: CpuMeter, warmup_s: float, duration_s: float) -> CpuWindow:
    await asyncio.sleep(warmup_s)
    meter.start()
    await asyncio.sleep(duration_s)
    return meter.stop()


async def _check_sold(loads: Sequence[ShardLoad]) -> None:
    totals = await asyncio.gather(*(load.handle.totals.remote() for load in loads))
    for load, total in zip(loads, totals, strict=True):
        if total["sold"] != load.confirmed:
            raise RuntimeError(f"a shard sold {total['sold']} seats, {load.confirmed} confirmed")


async def _new_event(database_url: str, venue: Any, shard_count: int, k: int) -> str:
    from engine.provision import create_event
    from engine.store.pool import connect
    from engine.store.records import SaleSettings

    conn = await connect(database_url)
    try:
        now = datetime.now(UTC)
        event = await create_event(
            conn, title=f"scaling bench {k}", venue=venue, category="bench",
            starts_at=now + timedelta(days=1), sale_opens_at=now - timedelta(seconds=1),
            shard_count=shard_count,
            settings=SaleSettings(per_user_limit=10, admission_rate=1.0, active_cap=1,
                                  heartbeat_timeout_s=3_600, hold_ttl_s=3_600,
                                  hold_max_lifetime_s=3_600))
    finally:
        await conn.close()
    return str(event.id)


# ---------------------------------------------------------------------------- the run


@dataclass
class Point:
    """A configuration over all rounds: the median rate, and CPU figures averaged."""

    series: list[str]
    events: int
    shards_per_event: int
    seat_shards: int
    ops_per_s: float
    rounds_ops_per_s: list[float]
    machine_busy_percent: float
    cores_by_role: dict[str, float]
    rest_of_machine_cores: float
    exhausted: bool
    runs: list[Measurement]


def summarise(measurements: Sequence[Measurement]) -> list[Point]:
    groups: dict[tuple[int, int], list[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.events, m.shards_per_event), []).append(m)
    points = []
    for runs in groups.values():
        first = runs[0]
        roles = sorted({r for m in runs for r in m.cpu.cores_by_role})
        points.append(Point(
            first.series, first.events, first.shards_per_event, first.seat_shards,
            round(statistics.median(m.ops_per_s for m in runs), 1),
            [m.ops_per_s for m in runs],
            round(statistics.fmean(m.cpu.machine_busy_percent for m in runs), 1),
            {r: round(statistics.fmean(m.cpu.cores_by_role.get(r, 0.0) for m in runs), 3)
             for r in roles},
            round(statistics.fmean(m.cpu.rest_of_machine_cores for m in runs), 2),
            any(m.exhausted for m in runs), list(runs)))
    return points


async def run(args: argparse.Namespace) -> list[Point]:
    from engine.actors.cluster import connect_ray, disconnect_ray
    from engine.local.stores import LocalStores
    from engine.serve.gateway import shard_directory
    from engine.settings import Settings
    from engine.store.migrate import apply_migrations
    from engine.store.pool import connect

    data = Path(tempfile.mkdtemp(prefix="tiketi-scaling-bench-"))
    base = Settings.from_env()
    settings = replace(base, data_dir=data, namespace="scalingbench",
                       stores=replace(base.stores, database_url=None, redis_url=None),
                       ray=replace(base.ray, address=None),
                       demo=replace(base.demo, enabled=False))
    with removing(data), LocalStores(settings) as stores:
        conn = await connect(stores.database_url)
        await apply_migrations(conn)
        await conn.close()
        connect_ray(settings)
        try:
            directory = shard_directory(settings, database_url=stores.database_url,
                                        redis_url=stores.redis_url)
            return await run_all(Stack(stores.database_url, directory), args)
        finally:
            disconnect_ray()


async def run_all(stack: Stack, args: argparse.Namespace) -> list[Point]:
    """Every configuration, `--rounds` times, rounds interleaved (a slow spell of this shared
    machine then falls on all configurations alike)."""
    configs = configurations(args.shards, args.events)
    measurements = []
    for round_no in range(args.rounds):
        for config in configs:
            print(f"measuring {config.label} (round {round_no + 1} of {args.rounds})", flush=True)
            m = await measure(stack, config, seats=args.seats, concurrency=args.concurrency,
                              batch=args.batch, warmup_s=args.warmup, duration_s=args.duration)
            print(f"  {m.ops_per_s:,.0f} seat ops/s, machine {m.cpu.machine_busy_percent}% "
                  f"busy (set-up {m.setup_s:.1f} s)", flush=True)
            measurements.append(m)
    return summarise(measurements)


def table(points: Sequence[Point]) -> str:
    roles = sorted({r for p in points for r, v in p.cores_by_role.items() if v >= 0.005})
    headers = ["events", "shards/event", "seat shards", "seat ops/s", "machine CPU %",
               *[f"{r} (cores)" for r in roles], "rest of machine (cores)"]
    rows = [[p.events, p.shards_per_event, p.seat_shards, round(p.ops_per_s),
             p.machine_busy_percent, *[p.cores_by_role.get(r, 0.0) for r in roles],
             p.rest_of_machine_cores] for p in points]
    return markdown_table(headers, rows)


def plot(points: Sequence[Point]) -> Any:
    def draw(ax: Any) -> None:
        cpu = ax.twinx()
        for series, label, marker, colour in (
                ("shards", "seat shards of one event", "o", "tab:blue"),
                ("events", "events of one shard each", "s", "tab:orange")):
            chosen = sorted((p for p in points if series in p.series),
                            key=lambda p: p.seat_shards)
            if not chosen:
                continue
            xs = [p.seat_shards for p in chosen]
            ax.plot(xs, [p.ops_per_s for p in chosen], marker=marker, color=colour,
                    label=f"{label}: seat ops/s")
            cpu.plot(xs, [p.machine_busy_percent for p in chosen], marker=marker,
                     linestyle=":", color=colour, alpha=0.6, label=f"{label}: machine CPU %")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({p.seat_shards for p in points}))
        ax.set_xticklabels([str(x) for x in sorted({p.seat_shards for p in points})])
        ax.set_xlabel("seat shards of one event / events at once")
        ax.set_ylabel("seat operations per second")
        ax.set_ylim(bottom=0)
        cpu.set_ylim(0, 105)
        cpu.set_ylabel("machine CPU busy, % (dotted)")
        lines, labels = ax.get_legend_handles_labels()
        more, more_labels = cpu.get_legend_handles_labels()
        ax.legend(lines + more, labels + more_labels, loc="lower right", fontsize=7)
        ax.set_title("Seat hold+confirm throughput on this machine")

    return draw


def report(points: Sequence[Point], args: argparse.Namespace, command: str,
           directory: Path = RESULTS_DIR) -> dict[str, Path]:
    best = max(points, key=lambda p: p.ops_per_s)
    notes = (f"{args.concurrency} calls in flight in all, {args.batch} commands per call, "
             f"{args.warmup:g} s warm-up then {args.duration:g} s measured per configuration, "
             f"median of {args.rounds} interleaved round(s). Peak: {best.ops_per_s:,.0f} seat "
             f"ops/s with {best.events} event(s) x {best.shards_per_event} shard(s). Cores are "
             "averages over the measured windows; 'rest of machine' is CPU used by processes "
             "outside this run.")
    return write_report(
        "scaling_bench", command=command,
        parameters={"shards": list(args.shards), "events": list(args.events),
                    "shards_per_event_in_events_series": 1,
                    "seats_per_configuration": args.seats, "concurrency": args.concurrency,
                    "batch": args.batch, "warmup_s": args.warmup, "duration_s": args.duration,
                    "rounds": args.rounds},
        results={"configurations": [asdict(p) for p in points]},
        table=table(points), notes=notes, plot=plot(points), directory=directory)


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=_counts, default=SHARD_COUNTS,
                        help="seat shards of one event, comma-separated (default 1,2,4,8)")
    parser.add_argument("--events", type=_counts, default=EVENT_COUNTS,
                        help="events at once, one shard each (default 1,2,4,8)")
    parser.add_argument("--seats", type=int, default=400_000,
                        help="seats on sale per configuration, split over its events")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight in all")
    parser.add_argument("--batch", type=int, default=100, help="commands per call")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    points = asyncio.run(run(args))
    command = "python -m benchmarks.scaling_bench " + " ".join(
        sys.argv[1:] if argv is None else argv)
    paths = report(points, args, command.strip(), args.output_dir)
    print(table(points))
    print("written to " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
