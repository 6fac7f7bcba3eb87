"""Records held seats' sales in PostgreSQL as the purchase saga records them (a pending
reservation of the hold, the shards' confirm, the reservation CONFIRMED), in a process of its
own, as the Payment service's replicas do it beside the Reservation service's.

`contention_bench` hands each hold of its engine design to a `SaleRecorder` while the buyers
race; the recorder process writes the sales behind them with `concurrency` tasks and says
when each one was in PostgreSQL. Its clock is the machine's monotonic clock, the same in
every process, so the parent can place those times on its own time line."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from engine.core.errors import DomainError
from engine.core.ids import HoldId
from engine.core.reservation import ReservationStatus
from engine.store import reservations_repo
from engine.store.records import ItemSpec

Sale = tuple[str, str, float, tuple[str, ...]]  # user id, hold id, expires at, seat ids


@dataclass(frozen=True)
class RecorderSetup:
    ray_address: str
    namespace: str
    database_url: str
    event_id: str
    shard_count: int
    concurrency: int
    pool: int
    prices: dict[str, int]


async def record_sale(seats: Any, pool: Any, event_id: UUID, prices: dict[str, int],
                      sale: Sale) -> None:
    """What the purchase saga writes for one hold: a pending reservation, the shards'
    confirm, then the reservation CONFIRMED (FAILED, and an error, if a shard refused)."""
    user_id, hold_id, expires_at, seat_ids = sale
    items = [ItemSpec(shard=part.shard, hold_id=str(part), price=prices[s], seat_id=s)
             for part in HoldId.parse(hold_id, seats.shard_count).parts for s in seat_ids]
    async with pool.acquire() as conn:
        reservation = await reservations_repo.create_pending(
            conn, user_id=UUID(user_id), event_id=event_id, items=items,
            expires_at=datetime.fromtimestamp(expires_at, UTC))
    status = ReservationStatus.CONFIRMED
    try:
        await seats.confirm(user_id, hold_id, "confirm")
    except DomainError:
        status = ReservationStatus.FAILED
    async with pool.acquire() as conn:
        await reservations_repo.transition(conn, reservation.id, status)
    if status != ReservationStatus.CONFIRMED:
        raise RuntimeError(f"the shard refused to confirm hold {hold_id}")


class SaleRecorder:
    """The parent's end: starts the recorder process, hands it sales, and collects when each
    one reached PostgreSQL."""

    def __init__(self, setup: RecorderSetup) -> None:
        context = multiprocessing.get_context("spawn")
        self._inbox: multiprocessing.Queue[Sale | None] = context.Queue()
        self._outbox: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
        self._process = context.Process(target=_main, args=(setup, self._inbox, self._outbox),
                                        name="sale-recorder", daemon=True)
        self._process.start()

    async def ready(self) -> None:
        message = await self._next()
        if message[0] != "ready":
            raise RuntimeError(f"the sale recorder did not start: {message}")

    def add(self, sale: Sale) -> None:
        self._inbox.put(sale)

    async def finish(self) -> list[tuple[float, int]]:
        """Waits until every sale handed over is recorded; (monotonic time, seats) of each."""
        self._inbox.put(None)
        recorded: list[tuple[float, int]] = []
        failures: list[str] = []
        while (message := await self._next())[0] != "done":
            if message[0] == "recorded":
                recorded.append((message[1], message[2]))
            else:
                failures.append(str(message[1]))
        await asyncio.get_running_loop().run_in_executor(None, self._process.join, 30)
        if failures:
            raise RuntimeError(f"{len(failures)} sale(s) not recorded: {failures[0]}")
        return recorded

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)

    async def _next(self) -> tuple[Any, ...]:
        while True:
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    None, self._outbox.get, True, 1.0)
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError("the sale recorder stopped") from None


def _main(setup: RecorderSetup, inbox: multiprocessing.Queue[Sale | None],
          outbox: multiprocessing.Queue[tuple[Any, ...]]) -> None:
    asyncio.run(_record(setup, inbox, outbox))


async def _record(setup: RecorderSetup, inbox: multiprocessing.Queue[Sale | None],
                  outbox: multiprocessing.Queue[tuple[Any, ...]]) -> None:
    import ray

    from engine.actors.directory import EventShards, queue_actor_name, seat_actor_name
    from engine.actors.router import EventSeats
    from engine.store.pool import create_pool

    ray.init(address=setup.ray_address, namespace=setup.namespace,
             logging_level=logging.WARNING, log_to_driver=False)
    pool = await create_pool(setup.database_url, min_size=1, max_size=setup.pool)
    handles = tuple(ray.get_actor(seat_actor_name(setup.event_id, k), namespace=setup.namespace)
                    for k in range(setup.shard_count))
    infos: list[dict[str, Any]] = await asyncio.gather(*(h.ready.remote() for h in handles))
    queue_handle = ray.get_actor(queue_actor_name(setup.event_id), namespace=setup.namespace)
    seats = EventSeats(EventShards(setup.event_id, handles, queue_handle), infos)
    event_id = UUID(setup.event_id)
    sales: asyncio.Queue[Sale | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def feed() -> None:
        while True:
            sale = inbox.get()
            loop.call_soon_threadsafe(sales.put_nowait, sale)
            if sale is None:
                return

    async def work() -> None:
        while (sale := await sales.get()) is not None:
            try:
                await record_sale(seats, pool, event_id, setup.prices, sale)
            except Exception as exc:
                outbox.put(("failed", repr(exc)))
            else:
                outbox.put(("recorded", time.monotonic(), len(sale[3])))
        sales.put_nowait(None)  # the end, for the next worker

    threading.Thread(target=feed, name="sales", daemon=True).start()
    outbox.put(("ready",))
    try:
        await asyncio.gather(*(work() for _ in range(setup.concurrency)))
    finally:
        await pool.close()
        ray.shutdown()
        outbox.put(("done",))
