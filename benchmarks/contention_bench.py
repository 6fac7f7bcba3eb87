"""Contention: N buyers race for the S seats of one event, on three designs in one run, with
the same machine, the same embedded PostgreSQL and Redis, the same buyers and the same client
concurrency (asyncio tasks in this process, one asyncpg pool and one Redis connection pool of
the same size).

Each buyer wants 1 to 4 seats. Some (`--named-fraction`) name adjacent seats drawn at random
from the hot region (the rows nearest the stage holding `--hot-fraction` of the seats) and try
`--attempts` such blocks before falling back to best-available; the others ask for the best
available seats straight away. A buyer's time to hold runs from its first attempt until it has
seats. Every design ends with each sale CONFIRMED in PostgreSQL, in the project's
`reservations`/`reservation_items` tables, whose unique index on active (event, seat) items
refuses a second sale of a seat.

- (a) `engine`: the event's SeatShard actors on a local Ray (`EventSeats.hold`/`hold_best`);
  a buyer holds seats there, and the sale is then recorded as the engine records it
  (`create_pending`, the shard's confirm, `transition(..., "CONFIRMED")`) by recorder tasks
  (the buyer's payment step), at most `--concurrency` at a time.
- (b) `redis_locks` (the seed's design): `SET seat:<event>:<seat> <buyer> NX PX <ttl>` for each
  wanted seat, pipelined, then one PostgreSQL transaction that marks the seats sold and
  inserts the reservation and its items, then the locks are deleted. Best-available reads the
  best free seats from a Redis sorted set and locks a block among them, retrying a bounded
  number of times.
- (c) `pg_row_locks`: PostgreSQL alone, one transaction per attempt: `FOR UPDATE NOWAIT` on
  the named seats, or `FOR UPDATE SKIP LOCKED` on a window of the best free seats, then the
  same writes as (b).

(b) and (c) keep each seat's status in a benchmark-only table, `bench.seats`. The designs run
in the order of `--designs`, Ray being started before (a) first runs; `--rounds` repeats them,
interleaved, and keeps each design's median round. Results go to
`benchmarks/results/contention_bench.{json,md,png}`.

Run: `python -m benchmarks.contention_bench` (`--help` for the knobs)."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast
from uuid import UUID, uuid4

import asyncpg
import redis.asyncio as aioredis

from benchmarks.report import RESULTS_DIR, markdown_table, write_report
from benchmarks.sale_recorder import RecorderSetup, Sale, SaleRecorder
from engine.core.errors import NotEnoughSeats, SeatUnavailable
from engine.core.stadium import build_stadium
from engine.core.venue import Venue
from engine.provision import create_event
from engine.store.pool import create_pool
from engine.store.queries import load_queries
from engine.store.records import SaleSettings

NAME = "contention_bench"
DESIGNS = {"a": "engine", "b": "redis_locks", "c": "pg_row_locks"}
LABELS = {"a": "(a) engine: shard actors", "b": "(b) seed: Redis locks + PostgreSQL",
          "c": "(c) PostgreSQL row locks"}
# Best-available in (b): how many of the best free seats a buyer reads, and among how many
# blocks found there it picks one at random, so that concurrent buyers spread out instead of
# all locking the same best block.
REDIS_WINDOW = 64
REDIS_SPREAD = 16
# Best-available in (c): the best free seats one attempt locks (SKIP LOCKED) to choose from.
PG_WINDOW = 32
CURVE_POINTS = 300

SQL = load_queries("benchmarks", "contention.sql")


@dataclass(frozen=True)
class Params:
    buyers: int = 30_000
    concurrency: int = 64
    pool: int = 16
    hot_fraction: float = 0.1
    named_fraction: float = 0.5
    max_seats: int = 4
    attempts: int = 3
    retries: int = 5
    shards: int = 1
    lock_ttl_ms: int = 10_000
    seed: int = 7
    rounds: int = 1
    record_after_sold_out: bool = False


# ---------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Layout:
    """The venue's seats in rank order: rows best first (by their nearest seat to the stage),
    each row's seats in row order, so the seats of a row are consecutive."""

    seat_ids: tuple[str, ...]
    rank: dict[str, int]
    row_of: dict[str, int]
    price: dict[str, int]
    hot_rows: tuple[tuple[str, ...], ...]


def layout_of(venue: Venue, hot_fraction: float) -> Layout:
    rows = sorted((row.seats for section in venue.sections for row in section.rows
                   if row.seats), key=lambda seats: min(venue.distance(s) for s in seats))
    seat_ids = tuple(s.id for seats in rows for s in seats)
    hot: list[tuple[str, ...]] = []
    hot_seats = 0
    for seats in rows:
        if hot and hot_seats >= hot_fraction * len(seat_ids):
            break
        hot.append(tuple(s.id for s in seats))
        hot_seats += len(seats)
    return Layout(
        seat_ids=seat_ids,
        rank={sid: k for k, sid in enumerate(seat_ids)},
        row_of={s.id: r for r, seats in enumerate(rows) for s in seats},
        price={s.id: s.price for seats in rows for s in seats},
        hot_rows=tuple(hot),
    )


@dataclass(frozen=True)
class Buyer:
    index: int
    user_id: str
    count: int
    named: tuple[tuple[str, ...], ...]  # blocks tried in turn before best-available


def make_buyers(layout: Layout, user_ids: Sequence[str], params: Params) -> list[Buyer]:
    rng = random.Random(params.seed)
    buyers = []
    for index, user_id in enumerate(user_ids):
        count = rng.randint(1, params.max_seats)
        named: tuple[tuple[str, ...], ...] = ()
        rows = [row for row in layout.hot_rows if len(row) >= count]
        if rows and rng.random() < params.named_fraction:
            named = tuple(_random_block(rng, rows, count) for _ in range(params.attempts))
        buyers.append(Buyer(index, user_id, count, named))
    return buyers


def _random_block(rng: random.Random, rows: Sequence[tuple[str, ...]], count: int
                  ) -> tuple[str, ...]:
    row = rng.choice(rows)
    start = rng.randrange(len(row) - count + 1)
    return row[start:start + count]


def choose_block(window: Sequence[str], count: int, layout: Layout, spread: int,
                 rng: random.Random) -> tuple[str, ...]:
    """A block of `count` adjacent seats among `window` (free seats in rank order): one of the
    first `spread` blocks found, at random; the first `count` seats when there is none."""
    blocks: list[tuple[str, ...]] = []
    i = 0
    while i + count <= len(window) and len(blocks) < spread:
        block = tuple(window[i:i + count])
        first, last = block[0], block[-1]
        if (layout.row_of[first] == layout.row_of[last]
                and layout.rank[last] - layout.rank[first] == count - 1):
            blocks.append(block)
            i += count
        else:
            i += 1
    return rng.choice(blocks) if blocks else tuple(window[:count])


# ---------------------------------------------------------------------------- measuring


@dataclass
class Tally:
    started: float = field(default_factory=time.perf_counter)
    started_monotonic: float = field(default_factory=time.monotonic)
    holds: list[tuple[float, int]] = field(default_factory=list)
    records: list[tuple[float, int]] = field(default_factory=list)
    to_hold: list[float] = field(default_factory=list)
    failed_attempts: int = 0
    without_seats: int = 0
    buyers_done_s: float = 0.0

    def held(self, began: float, seats: int) -> None:
        now = time.perf_counter()
        self.holds.append((now - self.started, seats))
        self.to_hold.append(now - began)

    def recorded(self, seats: int) -> None:
        self.records.append((time.perf_counter() - self.started, seats))

    def failed(self) -> None:
        self.failed_attempts += 1


@dataclass(frozen=True)
class Held:
    seats: tuple[str, ...]
    hold: Any = None  # the engine's HoldView, for its deferred record


class Design(Protocol):
    key: str
    deferred: bool  # the sale reaches PostgreSQL after the hold (by `record`) or with it

    async def hold_named(self, buyer: Buyer, seats: tuple[str, ...], attempt: int
                         ) -> Held | None: ...

    async def hold_best(self, buyer: Buyer, tally: Tally) -> Held | None: ...

    def defer(self, buyer: Buyer, held: Held) -> None:
        """A deferred design's sale, handed to whatever records it behind the buyers."""

    async def recorded(self) -> list[tuple[float, int]]:
        """A deferred design's sales once all are in PostgreSQL: (monotonic time, seats)."""
        ...

    async def sold(self) -> int: ...

    async def close(self) -> None: ...


async def race(design: Design, buyers: Sequence[Buyer], concurrency: int) -> Tally:
    """`concurrency` tasks take buyers in turn until none is left; a deferred design records
    the held seats' sales behind them."""
    feed = iter(buyers)
    tally = Tally()

    async def buy() -> None:
        for buyer in feed:
            began = time.perf_counter()
            held = await _secure(design, buyer, tally)
            if held is None:
                tally.without_seats += 1
                continue
            tally.held(began, len(held.seats))
            if design.deferred:
                design.defer(buyer, held)
            else:
                tally.recorded(len(held.seats))

    await asyncio.gather(*(buy() for _ in range(concurrency)))
    tally.buyers_done_s = time.perf_counter() - tally.started
    if design.deferred:
        tally.records = [(at - tally.started_monotonic, seats)
                         for at, seats in await design.recorded()]
    return tally


async def _secure(design: Design, buyer: Buyer, tally: Tally) -> Held | None:
    for attempt, block in enumerate(buyer.named):
        held = await design.hold_named(buyer, block, attempt)
        if held is not None:
            return held
        tally.failed()
    return await design.hold_best(buyer, tally)


# ---------------------------------------------------------------------------- (a) engine


class EngineDesign:
    """Holds in the event's shards; each hold's sale is recorded as the purchase saga records
    it by a `SaleRecorder` in a process of its own (as the Payment service's replicas do),
    at most `--concurrency` at a time, while the buyers race: in the real system this is the
    buyer's payment step, minutes later."""

    key = "a"
    deferred = True

    def __init__(self, seats: Any, recorder: SaleRecorder,
                 close: Callable[[], Awaitable[None]], *, after_sold_out: bool = False) -> None:
        self._seats = seats  # an engine.actors.router.EventSeats
        self._recorder = recorder
        self._close = close
        self._after_sold_out = after_sold_out
        self._waiting: list[Sale] = []

    async def hold_named(self, buyer: Buyer, seats: tuple[str, ...], attempt: int
                         ) -> Held | None:
        try:
            view = await self._seats.hold(buyer.user_id, list(seats), f"named-{attempt}")
        except SeatUnavailable:
            return None
        return Held(tuple(view.seat_ids), view)

    async def hold_best(self, buyer: Buyer, tally: Tally) -> Held | None:
        try:
            view = await self._seats.hold_best(buyer.user_id, buyer.count, "best")
        except NotEnoughSeats:
            tally.failed()
            return None
        return Held(tuple(view.seat_ids), view)

    def defer(self, buyer: Buyer, held: Held) -> None:
        view = held.hold
        sale = (buyer.user_id, view.hold_id, view.expires_at, held.seats)
        if self._after_sold_out:
            self._waiting.append(sale)
        else:
            self._recorder.add(sale)

    async def recorded(self) -> list[tuple[float, int]]:
        for sale in self._waiting:
            self._recorder.add(sale)
        self._waiting.clear()
        return await self._recorder.finish()

    async def sold(self) -> int:
        return int((await self._seats.availability())["totals"]["sold"])

    async def close(self) -> None:
        self._recorder.stop()
        await self._close()


# ---------------------------------------------------------------------------- (b) Redis locks


class RedisLockDesign:
    key = "b"
    deferred = False

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, event_id: UUID,
                 layout: Layout, params: Params) -> None:
        self._pool, self._redis, self._event_id = pool, redis, event_id
        self._layout, self._params = layout, params
        self._available = f"bench:available:{event_id}"
        self._rng = random.Random(params.seed)

    async def open(self) -> None:
        """Every seat goes into the sorted set of free seats, scored by rank."""
        ids = self._layout.seat_ids
        for start in range(0, len(ids), 10_000):
            chunk = ids[start:start + 10_000]
            await self._redis.zadd(self._available, {s: self._layout.rank[s] for s in chunk})

    def _lock_key(self, seat: str) -> str:
        return f"seat:{self._event_id}:{seat}"

    async def hold_named(self, buyer: Buyer, seats: tuple[str, ...], attempt: int
                         ) -> Held | None:
        if not await self._lock(buyer, seats):
            return None
        return await self._sell(buyer, seats)

    async def hold_best(self, buyer: Buyer, tally: Tally) -> Held | None:
        for _ in range(self._params.retries):
            window = cast("list[str]", await self._redis.zrange(self._available, 0,
                                                                REDIS_WINDOW - 1))
            if len(window) >= buyer.count:
                seats = choose_block(window, buyer.count, self._layout, REDIS_SPREAD, self._rng)
                if await self._lock(buyer, seats):
                    held = await self._sell(buyer, seats)
                    if held is not None:
                        return held
            tally.failed()
        return None

    async def _lock(self, buyer: Buyer, seats: tuple[str, ...]) -> bool:
        """Locks every seat, or none: seats already sold are no longer in the set of free
        seats (checked in the same round trip, after the locks)."""
        keys = [self._lock_key(s) for s in seats]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, buyer.user_id, nx=True, px=self._params.lock_ttl_ms)
            pipe.zmscore(self._available, list(seats))
            *taken, scores = await pipe.execute()
        mine = [key for key, ok in zip(keys, taken, strict=True) if ok]
        if len(mine) == len(keys) and all(score is not None for score in scores):
            return True
        if mine:
            await self._redis.delete(*mine)
        return False

    async def _sell(self, buyer: Buyer, seats: tuple[str, ...]) -> Held | None:
        """The PostgreSQL transaction, while the locked seats leave the set of free seats;
        then the locks go (and the seats come back if the sale did not happen)."""
        sold, _ = await asyncio.gather(self._commit(buyer, seats),
                                       self._redis.zrem(self._available, *seats))
        async with self._redis.pipeline(transaction=True) as pipe:
            if not sold:
                free = await self._still_available(seats)
                if free:
                    pipe.zadd(self._available, free)
            pipe.delete(*(self._lock_key(s) for s in seats))
            await pipe.execute()
        return Held(seats) if sold else None

    async def _commit(self, buyer: Buyer, seats: tuple[str, ...]) -> bool:
        async with self._pool.acquire() as conn:
            return await _sell_in_transaction(conn, self._event_id, buyer, seats,
                                              lock_first=False)

    async def _still_available(self, seats: tuple[str, ...]) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            rows = await SQL.still_available.fetch(conn, event_id=self._event_id,
                                                 seat_ids=list(seats))
        return {r["seat_id"]: r["rank"] for r in rows}

    def defer(self, buyer: Buyer, held: Held) -> None:
        raise TypeError("this design records its sales as it holds them")

    async def recorded(self) -> list[tuple[float, int]]:
        return []

    async def sold(self) -> int:
        async with self._pool.acquire() as conn:
            return int(await SQL.sold.fetchval(conn, event_id=self._event_id))

    async def close(self) -> None:
        await self._redis.delete(self._available)


class _Lost(Exception):
    """A seat was gone by the time the transaction looked: roll back."""


async def _sell_in_transaction(conn: asyncpg.Connection, event_id: UUID, buyer: Buyer,
                               seats: tuple[str, ...], *, lock_first: bool) -> bool:
    """One transaction that sells the seats, after locking them (NOWAIT) if `lock_first`.
    False when a seat was taken or locked by another transaction."""
    try:
        async with conn.transaction():
            if lock_first:
                rows = await SQL.lock_named.fetch(conn, event_id=event_id, seat_ids=list(seats))
                if len(rows) < len(seats):
                    raise _Lost
            hold_id = f"bench.{buyer.index}"
            if await SQL.sell.fetchval(conn, event_id=event_id, seat_ids=list(seats),
                                     user_id=UUID(buyer.user_id), hold_id=hold_id) is None:
                raise _Lost
    except (_Lost, asyncpg.LockNotAvailableError, asyncpg.UniqueViolationError):
        return False
    return True


# ---------------------------------------------------------------------------- (c) row locks


class RowLockDesign:
    key = "c"
    deferred = False

    def __init__(self, pool: asyncpg.Pool, event_id: UUID, layout: Layout, params: Params
                 ) -> None:
        self._pool, self._event_id = pool, event_id
        self._layout, self._params = layout, params
        self._rng = random.Random(params.seed)

    async def hold_named(self, buyer: Buyer, seats: tuple[str, ...], attempt: int
                         ) -> Held | None:
        async with self._pool.acquire() as conn:
            sold = await _sell_in_transaction(conn, self._event_id, buyer, seats,
                                              lock_first=True)
        return Held(seats) if sold else None

    async def hold_best(self, buyer: Buyer, tally: Tally) -> Held | None:
        for _ in range(self._params.retries):
            async with self._pool.acquire() as conn:
                seats = await self._sell_best(conn, buyer)
            if seats is not None:
                return Held(seats)
            tally.failed()
        return None

    async def _sell_best(self, conn: asyncpg.Connection, buyer: Buyer
                         ) -> tuple[str, ...] | None:
        """Locks the best free seats no other transaction has locked, and sells a block of
        them; the rest are unlocked at commit."""
        try:
            async with conn.transaction():
                rows = await SQL.lock_best.fetch(conn, event_id=self._event_id, window=PG_WINDOW)
                if len(rows) < buyer.count:
                    raise _Lost
                seats = choose_block([r["seat_id"] for r in rows], buyer.count, self._layout,
                                     1, self._rng)
                if await SQL.sell.fetchval(
                        conn, event_id=self._event_id, seat_ids=list(seats),
                        user_id=UUID(buyer.user_id), hold_id=f"bench.{buyer.index}") is None:
                    raise _Lost
        except (_Lost, asyncpg.UniqueViolationError):
            return None
        return seats

    def defer(self, buyer: Buyer, held: Held) -> None:
        raise TypeError("this design records its sales as it holds them")

    async def recorded(self) -> list[tuple[float, int]]:
        return []

    async def sold(self) -> int:
        async with self._pool.acquire() as conn:
            return int(await SQL.sold.fetchval(conn, event_id=self._event_id))

    async def close(self) -> None:
        return None


# ---------------------------------------------------------------------------- one run


DirectoryFactory = Callable[[], Any]  # returns the engine.actors.directory.ShardDirectory


@dataclass(frozen=True)
class Stores:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    directory: DirectoryFactory | None
    database_url: str


async def run_contention(params: Params, venue: Venue, *, database_url: str, redis_url: str,
                         designs: Sequence[str] = ("b", "c", "a"),
                         directory: DirectoryFactory | None = None) -> dict[str, Any]:
    """Runs the workload on each design in turn, each time on a fresh event of `venue`, for
    `params.rounds` rounds, and returns the figures: {"designs": {name: the median round's
    figures}, "ratios": ..., "targets": ..., "rounds": ...}. Design (a) needs `directory`,
    called when (a) first runs (so Ray can be started only then)."""
    layout = layout_of(venue, params.hot_fraction)
    pool = await create_pool(database_url, min_size=params.pool, max_size=params.pool)
    redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        redis_url, max_connections=params.pool, decode_responses=True))
    try:
        async with pool.acquire() as conn:
            await SQL.create_schema.execute(conn)
            users = [str(r["id"]) for r in
                     await SQL.new_users.fetch(conn, tag=uuid4().hex[:12], count=params.buyers)]
        buyers = make_buyers(layout, users, params)
        stores = Stores(pool, redis, directory, database_url)
        runs: dict[str, list[dict[str, Any]]] = {DESIGNS[key]: [] for key in designs}
        # Rounds interleave the designs, so a slow spell of the machine falls on all.
        for round_no in range(params.rounds):
            for key in designs:
                print(f"round {round_no + 1} of {params.rounds}: ", end="")
                runs[DESIGNS[key]].append(
                    await _run_design(key, params, venue, layout, buyers, stores))
    finally:
        await redis.aclose()
        await pool.close()
    results = {name: median_run(measured) for name, measured in runs.items()}
    by_design = ratios(runs)
    return {"designs": results, "ratios": by_design, "targets": targets(results, by_design),
            "rounds": {name: [{m: r[m] for m in BRIEF} for r in measured]
                       for name, measured in runs.items()},
            "venue": {"name": venue.name, "seats": venue.seat_count,
                      "hot_rows": len(layout.hot_rows),
                      "hot_seats": sum(len(r) for r in layout.hot_rows)}}


async def _run_design(key: str, params: Params, venue: Venue, layout: Layout,
                      buyers: Sequence[Buyer], stores: Stores) -> dict[str, Any]:
    print(f"{LABELS[key]}: {len(buyers):,} buyers, {venue.seat_count:,} seats", flush=True)
    event_id = await _new_event(stores.pool, venue, params)
    design = await _open(key, event_id, params, layout, stores)
    try:
        await _vacuum(stores.pool)
        tally = await race(design, buyers, params.concurrency)
        async with stores.pool.acquire() as conn:
            pg = await SQL.pg_sales.fetchrow(conn, event_id=event_id)
            assert pg is not None  # an aggregate has one row
        in_design = await design.sold()
    finally:
        await design.close()
    result = summarise(key, venue.seat_count, tally, int(pg["double_sells"]), int(pg["seats"]),
                       in_design)
    print(f"  {result['seats_held_per_s']:,.0f} seats held/s, sold out "
          f"{'yes' if result['sold_out'] else 'no'} at {result['sold_out_s']:.2f} s, all in "
          f"PostgreSQL at {result['all_sales_in_pg_s']:.2f} s, double-sells "
          f"{result['double_sells']}", flush=True)
    return result


async def _new_event(pool: asyncpg.Pool, venue: Venue, params: Params) -> UUID:
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        event = await create_event(
            conn, title="Contention bench", venue=venue, category="bench",
            starts_at=now + timedelta(days=1), sale_opens_at=now - timedelta(seconds=1),
            shard_count=params.shards,
            settings=SaleSettings(per_user_limit=params.max_seats, admission_rate=1.0,
                                  active_cap=1, heartbeat_timeout_s=3_600))
    return event.id


async def _open(key: str, event_id: UUID, params: Params, layout: Layout, stores: Stores
                ) -> Design:
    if key == "a":
        return await _open_engine(event_id, params, layout, stores)
    async with stores.pool.acquire() as conn:
        ids = list(layout.seat_ids)
        await SQL.fill_seats.execute(conn, event_id=event_id, seat_ids=ids,
                                     ranks=[layout.rank[s] for s in ids],
                                     prices=[layout.price[s] for s in ids])
    if key == "c":
        return RowLockDesign(stores.pool, event_id, layout, params)
    design = RedisLockDesign(stores.pool, stores.redis, event_id, layout, params)
    await design.open()
    return design


async def _open_engine(event_id: UUID, params: Params, layout: Layout, stores: Stores
                       ) -> Design:
    import ray

    from engine.actors.router import EventSeats

    if stores.directory is None:
        raise ValueError("design (a) needs a shard directory (Ray)")
    directory = stores.directory()
    shards, infos = await directory.open_event(str(event_id), params.shards)
    recorder = SaleRecorder(RecorderSetup(
        ray_address=str(ray.get_runtime_context().gcs_address),
        namespace=directory.namespace, database_url=stores.database_url,
        event_id=str(event_id), shard_count=params.shards, concurrency=params.concurrency,
        pool=params.pool, prices=dict(layout.price)))
    try:
        await recorder.ready()
    except BaseException:
        recorder.stop()
        raise

    async def close() -> None:
        await directory.close_event(str(event_id), params.shards)

    return EngineDesign(EventSeats(shards, infos), recorder, close,
                        after_sold_out=params.record_after_sold_out)


async def _vacuum(pool: asyncpg.Pool) -> None:
    """The same starting point for each design: tables vacuumed, statistics fresh."""
    async with pool.acquire() as conn:
        await SQL.analyze.execute(conn)


# ---------------------------------------------------------------------------- figures


def summarise(key: str, seat_count: int, tally: Tally, double_sells: int, sold_in_pg: int,
              sold_in_design: int) -> dict[str, Any]:
    held = sum(n for _, n in tally.holds)
    sold_out = held == seat_count
    last_hold = max((t for t, _ in tally.holds), default=0.0)
    sold_out_s = last_hold if sold_out else tally.buyers_done_s
    waits = sorted(tally.to_hold)
    return {
        "design": DESIGNS[key],
        "label": LABELS[key],
        "seats": seat_count,
        "seats_held": held,
        "reservations": len(tally.holds),
        "seats_held_per_s": round(held / sold_out_s, 1) if sold_out_s else 0.0,
        "sold_out": sold_out,
        "sold_out_s": round(sold_out_s, 3),
        "all_sales_in_pg_s": round(max((t for t, _ in tally.records), default=0.0), 3),
        "time_to_hold_p50_ms": round(1000 * statistics.median(waits), 2) if waits else 0.0,
        "time_to_hold_p99_ms": round(1000 * _quantile(waits, 0.99), 2) if waits else 0.0,
        "failed_attempts": tally.failed_attempts,
        "buyers_without_seats": tally.without_seats,
        "double_sells": double_sells,
        "seats_sold_in_pg": sold_in_pg,
        "seats_sold_in_design": sold_in_design,
        "consistent": held == sold_in_pg == sold_in_design,
        "held_curve": _curve(tally.holds),
        "pg_curve": _curve(tally.records),
    }


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _curve(events: Sequence[tuple[float, int]]) -> list[tuple[float, int]]:
    """Cumulative seats over time, at most CURVE_POINTS points (always the last one)."""
    points: list[tuple[float, int]] = [(0.0, 0)]
    total = 0
    step = max(1, len(events) // CURVE_POINTS)
    for k, (t, n) in enumerate(sorted(events)):
        total += n
        if k % step == 0 or k == len(events) - 1:
            points.append((round(t, 4), total))
    return points


BRIEF = ("seats_held_per_s", "sold_out_s", "all_sales_in_pg_s", "time_to_hold_p50_ms",
         "time_to_hold_p99_ms", "double_sells")
RATIOS = BRIEF[:-1]


def median_run(measured: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median rate of seats held; double-sells and consistency are over
    all rounds."""
    chosen = dict(sorted(measured, key=lambda r: r["seats_held_per_s"])[len(measured) // 2])
    chosen["double_sells"] = sum(r["double_sells"] for r in measured)
    chosen["consistent"] = all(r["consistent"] for r in measured)
    chosen["rounds_seats_held_per_s"] = [r["seats_held_per_s"] for r in measured]
    return chosen


def ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float | None]]:
    """Ours over theirs, the median over rounds of each round's ratio (rounds run back to
    back, so each pair shares the machine's state): above 1 is better for the rate, below 1
    for times."""
    ours = runs.get("engine")
    if not ours:
        return {}
    out = {}
    for name in ("redis_locks", "pg_row_locks"):
        theirs = runs.get(name)
        if theirs:
            out[name] = {metric: _paired(metric, ours, theirs) for metric in RATIOS}
    return out


def _paired(metric: str, ours: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]]
            ) -> float | None:
    pairs = [a[metric] / b[metric] for a, b in zip(ours, theirs, strict=True) if b[metric]]
    return round(statistics.median(pairs), 3) if pairs else None


TARGETS = {"redis_locks": {"seats_held_per_s": 10.0},
           "pg_row_locks": {"seats_held_per_s": 4.0, "sold_out_s": 1 / 3}}
"""Ours over theirs: at least this many times their seats held per second, a sold-out time
at most this share of theirs."""


def targets(results: dict[str, dict[str, Any]], by_design: dict[str, dict[str, float | None]]
            ) -> dict[str, Any]:
    """Whether each target of `TARGETS` is met, and no double-sell anywhere."""
    met: dict[str, Any] = {
        "no_double_sells": all(r["double_sells"] == 0 for r in results.values())}
    for name, r in by_design.items():
        wanted = TARGETS.get(name, {})
        if "seats_held_per_s" in wanted:
            met[f"held_per_s_{wanted['seats_held_per_s']:g}x_{name}"] = (
                (r["seats_held_per_s"] or 0) >= wanted["seats_held_per_s"])
        if "sold_out_s" in wanted:
            met[f"sold_out_at_most_{wanted['sold_out_s']:.2f}_of_{name}"] = (
                (r["sold_out_s"] or float("inf")) <= wanted["sold_out_s"])
    return met


HEADERS = ("design", "seats held/s", "sold out at s", "all sales in PostgreSQL at s",
           "time to hold p50 ms", "p99 ms", "failed attempts", "buyers without seats",
           "double-sells")


def table(report: dict[str, Any]) -> str:
    rows = [(r["label"], r["seats_held_per_s"],
             f"{r['sold_out_s']:.2f}" + ("" if r["sold_out"] else " (not sold out)"),
             f"{r['all_sales_in_pg_s']:.2f}", r["time_to_hold_p50_ms"],
             r["time_to_hold_p99_ms"], r["failed_attempts"], r["buyers_without_seats"],
             r["double_sells"]) for r in report["designs"].values()]
    text = markdown_table(HEADERS, rows)
    if report["ratios"]:
        ratio_rows = [(f"(a) / {LABELS[k]}", *(_x(r[m]) for m in RATIOS), _goal(name))
                      for k, name in DESIGNS.items() if (r := report["ratios"].get(name))]
        text += "\n\n" + markdown_table(
            ("ours / theirs", "seats held/s", "sold-out time", "all sales in PostgreSQL",
             "time to hold p50", "p99", "targets"), ratio_rows)
    return text


def _goal(name: str) -> str:
    wanted = TARGETS.get(name, {})
    parts = []
    if "seats_held_per_s" in wanted:
        parts.append(f"seats held/s >= {wanted['seats_held_per_s']:g}x")
    if "sold_out_s" in wanted:
        parts.append(f"sold-out time <= {wanted['sold_out_s']:.2f}x")
    return ", ".join(parts)


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def plot(report: dict[str, Any]) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        for key, name in DESIGNS.items():
            r = report["designs"].get(name)
            if r is None:
                continue
            xs, ys = zip(*r["held_curve"], strict=True)
            line = ax.plot(xs, ys, label=f"{LABELS[key]}: held")[0]
            if key == "a":
                xs, ys = zip(*r["pg_curve"], strict=True)
                ax.plot(xs, ys, linestyle="--", color=line.get_color(),
                        label=f"{LABELS[key]}: sales in PostgreSQL")
        ax.set_xlabel("seconds since the sale opened")
        ax.set_ylabel("seats held (cumulative)")
        ax.set_title("Buyers racing for one event's seats")
        ax.legend(fontsize=8)

    return draw


def write(report: dict[str, Any], params: Params, *, command: str,
          directory: Path = RESULTS_DIR) -> dict[str, Path]:
    parameters = {**asdict(params), "seats": report["venue"]["seats"],
                  "designs": list(report["designs"]), "venue": report["venue"],
                  "redis_window": REDIS_WINDOW, "redis_spread": REDIS_SPREAD,
                  "pg_window": PG_WINDOW}
    notes = ("Seats held: (a) held in a shard (journaled to Redis), its sale then recorded in "
             "PostgreSQL behind the buyers; (b) and (c) sold in PostgreSQL. Every design ends "
             "with each sale CONFIRMED in PostgreSQL; double-sells are counted there, over "
             f"all rounds. Figures: the median of {params.rounds} round(s) by seats held/s; "
             "ratios: the median of each round's ratio.")
    return write_report(NAME, command=command, parameters=parameters, results=report,
                        table=table(report), notes=notes, plot=plot(report),
                        directory=directory)


# ---------------------------------------------------------------------------- main


def stadium_venue(seats: int) -> Venue:
    """The stadium's sections in its order (floor first, then the lower and upper bowls) until
    they hold at least `seats` seats."""
    stadium = build_stadium(standing=0)
    chosen: list[str] = []
    total = 0
    for section in stadium.sections:
        if total >= seats:
            break
        chosen.append(section.id)
        total += section.seat_count
    return stadium.subset(chosen)


async def standalone(params: Params, venue: Venue, designs: Sequence[str]) -> dict[str, Any]:
    """Embedded PostgreSQL and Redis for the run; a local Ray started when (a) first runs."""
    from engine.actors.cluster import connect_ray, disconnect_ray
    from engine.actors.directory import ShardDirectory
    from engine.local.stores import LocalStores
    from engine.serve import gateway
    from engine.settings import Settings
    from engine.store.migrate import apply_migrations
    from engine.store.pool import connect

    with tempfile.TemporaryDirectory(prefix="tiketi-contention-",
                                     ignore_cleanup_errors=True) as data:
        base = Settings.from_env()
        settings = replace(base, data_dir=Path(data), namespace="contention",
                           stores=replace(base.stores, database_url=None, redis_url=None),
                           ray=replace(base.ray, address=None))
        with LocalStores(settings) as stores:
            conn = await connect(stores.database_url)
            await apply_migrations(conn)
            await conn.close()
            directory: list[ShardDirectory] = []

            def shard_directory() -> ShardDirectory:
                if not directory:
                    connect_ray(settings)
                    directory.append(gateway.shard_directory(
                        settings, database_url=stores.database_url,
                        redis_url=stores.redis_url))
                return directory[0]

            try:
                return await run_contention(params, venue, database_url=stores.database_url,
                                            redis_url=stores.redis_url, designs=designs,
                                            directory=shard_directory)
            finally:
                disconnect_ray()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Params()
    parser.add_argument("--buyers", type=int, default=default.buyers)
    parser.add_argument("--seats", type=int, default=47_400,
                        help="seats of the venue: the stadium's sections, floor first, until "
                             "they hold this many (47,400: the whole stadium)")
    parser.add_argument("--concurrency", type=int, default=default.concurrency,
                        help="buyers in flight (asyncio tasks), the same for every design")
    parser.add_argument("--pool", type=int, default=default.pool,
                        help="PostgreSQL and Redis connections of the client")
    parser.add_argument("--hot-fraction", type=float, default=default.hot_fraction,
                        help="share of the seats, nearest rows first, that named buyers want")
    parser.add_argument("--named-fraction", type=float, default=default.named_fraction,
                        help="share of buyers who name seats (the others ask for the best)")
    parser.add_argument("--attempts", type=int, default=default.attempts,
                        help="named blocks a buyer tries before asking for the best seats")
    parser.add_argument("--retries", type=int, default=default.retries,
                        help="tries of a best-available hold in (b) and (c)")
    parser.add_argument("--shards", type=int, default=default.shards,
                        help="seat shards of the event in (a)")
    parser.add_argument("--designs", default="b,c,a", help="designs to run, in this order")
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--rounds", type=int, default=default.rounds,
                        help="runs of every design, interleaved; the median round is kept")
    parser.add_argument("--record-after-sold-out", action="store_true",
                        help="(a) hands its sales to the recorder only once the buyers are "
                             "done: the holds alone, without PostgreSQL's work beside them")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    params = Params(buyers=args.buyers, concurrency=args.concurrency, pool=args.pool,
                    hot_fraction=args.hot_fraction, named_fraction=args.named_fraction,
                    attempts=args.attempts, retries=args.retries, shards=args.shards,
                    seed=args.seed, rounds=args.rounds,
                    record_after_sold_out=args.record_after_sold_out)
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    if not designs or any(d not in DESIGNS for d in designs):
        parser.error(f"--designs takes a comma-separated list of {', '.join(DESIGNS)}")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    report = asyncio.run(standalone(params, stadium_venue(args.seats), designs))
    command = f"python -m benchmarks.{NAME} " + " ".join(sys.argv[1:] if argv is None else argv)
    paths = write(report, params, command=command.strip(), directory=args.output_dir)
    print(table(report))
    print("written to " + ", ".join(str(p) for p in paths.values()))
    return 0 if report["targets"]["no_double_sells"] else 1


if __name__ == "__main__":
    sys.exit(main())
