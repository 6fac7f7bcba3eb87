"""An event split over two seat shards, through the router, on real Ray: holds that span
shards, the per-user limit across shards, best-available over shards, the queue shard."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from engine.core.errors import HoldNotOwned, SeatUnavailable, UserLimitExceeded
from engine.core.venue import Section, Venue
from tests.e2e.conftest import OpenEvent
from tests.unit.helpers import row


def two_sections() -> Venue:
    """Section N (near the stage) and F (far), 2 rows of 5 each."""
    near = Section("N", "Near", (row("N", "1", 5, y=5.0), row("N", "2", 5, y=6.0)))
    far = Section("F", "Far", (row("F", "1", 5, y=50.0), row("F", "2", 5, y=51.0)))
    return Venue("Split Hall", (near, far))


async def test_a_hold_spanning_shards_is_all_or_nothing(
    open_event: Callable[..., Awaitable[OpenEvent]]
) -> None:
    event = await open_event(two_sections(), shard_count=2, per_user_limit=6)
    seats = event.seats
    view = await seats.hold("ann", ["N-1-1", "F-1-1"], "k1")
    assert "+" in view.hold_id and set(view.seat_ids) == {"N-1-1", "F-1-1"}
    assert await seats.hold("ann", ["N-1-1", "F-1-1"], "k1") == view

    await seats.hold("bob", ["F-2-2"], "b1")
    with pytest.raises(SeatUnavailable):
        await seats.hold("cat", ["N-2-2", "F-2-2"], "c1")
    states = await seats.seat_states()
    assert states["N-2-2"] == 0, "the part taken before the refusal was given back"

    sold = await seats.confirm("ann", view.hold_id, "k2")
    assert sold.status == "sold" and sold.hold_id == view.hold_id
    states = await seats.seat_states()
    assert states["N-1-1"] == states["F-1-1"] == 2
    with pytest.raises(HoldNotOwned):
        await seats.release("bob", view.hold_id, "b2")


async def test_the_user_limit_holds_across_shards(
    open_event: Callable[..., Awaitable[OpenEvent]]
) -> None:
    event = await open_event(two_sections(), shard_count=2, per_user_limit=3)
    seats = event.seats
    first = await seats.hold("dan", ["N-1-1", "N-1-2"], "d1")
    with pytest.raises(UserLimitExceeded):
        await seats.hold("dan", ["F-1-1", "F-1-2"], "d2")
    assert (await seats.seat_states())["F-1-1"] == 0
    await seats.hold("dan", ["F-1-1"], "d3")
    with pytest.raises(UserLimitExceeded):
        await seats.hold_best("dan", 1, "d4")
    await seats.release("dan", first.hold_id, "d5")
    await seats.hold_best("dan", 2, "d6", section="F")


async def test_best_available_fills_the_nearest_shard_first(
    open_event: Callable[..., Awaitable[OpenEvent]]
) -> None:
    event = await open_event(two_sections(), shard_count=2, per_user_limit=10)
    seats = event.seats
    views = [await seats.hold_best(f"u{i}", 5, f"k{i}") for i in range(3)]
    assert [v.seat_ids[0][0] for v in views] == ["N", "N", "F"]
    totals = (await seats.availability())["totals"]
    assert totals["held"] == 15 and totals["available"] == 5


async def test_the_queue_admits_in_join_order_through_its_actor(
    open_event: Callable[..., Awaitable[OpenEvent]]
) -> None:
    event = await open_event(two_sections(), admission_rate=5.0, active_cap=100)
    queue = event.queue
    for i in range(8):
        status = await queue.join(f"fan{i}")
        assert status.seq == i
    assert (await queue.join("fan3")).seq == 3
    await queue.leave("fan5")
    admitted: list[str] = []
    for _ in range(60):
        await asyncio.sleep(0.1)
        await queue.heartbeat_many([f"fan{i}" for i in range(8)])
        statuses = [await queue.status(f"fan{i}") for i in range(8)]
        admitted = [s.user_id for s in sorted(statuses, key=lambda s: s.seq)
                    if s.state == "admitted"]
        if len(admitted) == 7:
            break
    assert admitted == [f"fan{i}" for i in range(8) if i != 5]
    summary = await queue.summary()
    assert summary.admitted_total == 7 and summary.waiting == 0
