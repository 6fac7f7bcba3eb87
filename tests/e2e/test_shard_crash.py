"""Kill a seat shard actor in the middle of a stream of holds and confirms: Ray restarts it,
the calls in flight are retried with their idempotency keys, and the restarted shard holds
exactly what had been acknowledged: no lost hold, no lost sale, nothing unacknowledged."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import ray

from engine.core.errors import DomainError
from engine.core.inventory import HoldView
from engine.core.stadium import build_stadium
from engine.store.pool import create_pool
from tests.e2e.conftest import Engine, OpenEvent
from tests.sales import new_user, sell


async def test_killed_shard_comes_back_with_exactly_what_it_acknowledged(
    engine: Engine, open_event: Callable[..., Awaitable[OpenEvent]]
) -> None:
    venue = build_stadium(floor_blocks=1, floor_rows=10, floor_seats=20, lower_sections=0,
                          upper_sections=0, standing=0)
    event = await open_event(venue, shard_count=1, hold_ttl_s=3_600, hold_max_lifetime_s=3_600,
                             per_user_limit=8)
    seats = [s.id for s in venue.seats()]
    shard = event.shards.seats[0]
    pid_before = (await shard.stats.remote())["pid"]

    pool = await create_pool(engine.database_url, max_size=4)
    async with pool.acquire() as conn:
        users = [await new_user(conn, f"crash{i}") for i in range(30)]
    held: dict[str, HoldView] = {}
    sold: dict[str, HoldView] = {}
    keys: dict[str, str] = {}
    refused = 0
    done = 0
    rng = random.Random(7)

    async def stream(worker: int) -> None:
        nonlocal refused, done
        for n in range(60):
            user = rng.choice(users)
            key = f"w{worker}-{n}"
            try:
                view = await event.seats.hold(user, rng.sample(seats, rng.randint(1, 2)), key)
            except DomainError:
                refused += 1
                continue
            held[view.hold_id] = view
            keys[view.hold_id] = key
            if n % 3 == 0:
                async with pool.acquire() as conn:
                    outcome = await sell(
                        conn, event_id=event.record.id, view=view, shard=0,
                        confirm=lambda v=view, u=user, k=key: _confirm(event, u, v.hold_id, k))
                if isinstance(outcome, HoldView):
                    sold[view.hold_id] = held.pop(view.hold_id)
            done += 1
            if done == 40:
                halfway.set()

    halfway = asyncio.Event()

    async def killer() -> None:
        await halfway.wait()
        ray.kill(shard, no_restart=False)

    try:
        await asyncio.gather(stream(0), stream(1), stream(2), killer())
        state = await shard.state_snapshot.remote()
        stats = await shard.stats.remote()
        confirmed = await pool.fetchval(
            "SELECT count(DISTINCT hold_id) FROM reservation_items i JOIN reservations r "
            "ON r.id = i.reservation_id WHERE r.event_id = $1 AND r.status = 'CONFIRMED'",
            event.record.id)
    finally:
        await pool.close()

    assert stats["pid"] != pid_before, "the shard was restarted"
    assert done + refused == 180 and refused > 0, "seats were contended"
    inventory = state["inventory"]
    live = {row[0]: row for row in inventory["holds"]}
    sales = {row[0]: row for row in inventory["sales"]}
    assert set(live) == set(held), "every acknowledged hold, and only those, is live"
    assert set(sales) == set(sold), "every acknowledged sale, and only those, is sold"
    ids, states = await shard.seat_states.remote()
    by_seat = dict(zip(ids, states, strict=True))
    for view in held.values():
        assert all(by_seat[s] == 1 for s in view.seat_ids)
    for view in sold.values():
        assert all(by_seat[s] == 2 for s in view.seat_ids)
    expected_taken = sum(len(v.seat_ids) for v in [*held.values(), *sold.values()])
    assert sum(1 for s in states if s) == expected_taken

    assert confirmed == len(sold)
    some = next(iter(sold.values()))
    again = await event.seats.hold(some.user_id, list(some.seat_ids), keys[some.hold_id])
    assert again.hold_id == some.hold_id, "a retried command returns its first result"


async def _confirm(event: OpenEvent, user: str, hold_id: str, key: str) -> Any:
    try:
        return await event.seats.confirm(user, hold_id, f"{key}-confirm")
    except DomainError as err:
        return err
