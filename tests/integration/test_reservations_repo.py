from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from engine.core.inventory import ConfirmedSale
from engine.core.venue import Venue
from engine.store import events_repo, reservations_repo, users_repo
from engine.store.errors import InvalidTransition, NotFound, SeatAlreadyReserved
from engine.store.pool import connect
from engine.store.records import (
    EventRecord,
    ItemSpec,
    NewEvent,
    ReservationRecord,
    UserRecord,
)

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


def seat(seat_id: str, hold_id: str = "h1", shard: int = 0, price: int = 90_000) -> ItemSpec:
    return ItemSpec(shard=shard, hold_id=hold_id, price=price, seat_id=seat_id)


def ga(type_id: str, quantity: int, hold_id: str = "h1", shard: int = 0) -> ItemSpec:
    return ItemSpec(
        shard=shard, hold_id=hold_id, price=50_000, ticket_type_id=type_id, quantity=quantity
    )


async def other_user(conn: asyncpg.Connection, email: str = "other@example.com") -> UserRecord:
    return await users_repo.create_user(conn, email=email, password_hash="h", name="Other")


async def reserve(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord, *items: ItemSpec,
    key: str | None = None,
) -> ReservationRecord:
    return await reservations_repo.create_pending(
        conn, user_id=user.id, event_id=event.id, items=items, expires_at=EXPIRES,
        idempotency_key=key,
    )


async def test_create_pending(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord
) -> None:
    r = await reserve(conn, user, event, seat("A-1-1", price=150_000), ga("GA", 3))
    assert (r.status, r.total_amount, r.currency) == ("PENDING", 300_000, "KRW")
    assert (r.user_id, r.event_id, r.expires_at) == (user.id, event.id, EXPIRES)
    assert [(i.seat_id, i.ticket_type_id, i.quantity, i.active) for i in r.items] == [
        ("A-1-1", None, 1, True), (None, "GA", 3, True),
    ]
    assert r.confirmed_at is None and r.cancelled_at is None
    assert await reservations_repo.get_reservation(conn, r.id) == r


async def test_a_seat_has_one_active_reservation(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord
) -> None:
    first = await reserve(conn, user, event, seat("A-1-1"), seat("A-1-2"))
    rival = await other_user(conn)
    items_before = await conn.fetchval("SELECT count(*) FROM reservation_items")
    with pytest.raises(SeatAlreadyReserved) as caught:
        await reserve(conn, rival, event, seat("A-1-3", "h2"), seat("A-1-2", "h2"))
    assert caught.value.seat_ids == ["A-1-2"]
    assert await conn.fetchval(
        "SELECT count(*) FROM reservations WHERE user_id = $1", rival.id
    ) == 0
    assert await conn.fetchval("SELECT count(*) FROM reservation_items") == items_before

    await reservations_repo.transition(conn, first.id, "FAILED")
    second = await reserve(conn, rival, event, seat("A-1-2", "h2"))
    await reservations_repo.transition(conn, second.id, "CONFIRMED")
    await reservations_repo.transition(conn, second.id, "CANCELLED")
    third = await reserve(conn, user, event, seat("A-1-2", "h3"))
    assert third.status == "PENDING"


async def test_idempotency_key_returns_the_first_reservation(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord
) -> None:
    first = await reserve(conn, user, event, seat("B-1-1"), key="k-1")
    again = await reserve(conn, user, event, seat("B-1-2"), key="k-1")
    assert again == first
    rival = await other_user(conn)
    theirs = await reserve(conn, rival, event, seat("B-1-2"), key="k-1")
    assert theirs.id != first.id


async def test_transitions(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord
) -> None:
    r = await reserve(conn, user, event, seat("C-1-1"), ga("STAND", 2))
    confirmed = await reservations_repo.transition(conn, r.id, "CONFIRMED")
    assert confirmed.status == "CONFIRMED"
    assert confirmed.confirmed_at is not None
    assert all(i.active for i in confirmed.items)
    assert await reservations_repo.transition(conn, r.id, "CONFIRMED") == confirmed
    for bad in ("PENDING", "FAILED", "EXPIRED"):
        with pytest.raises(InvalidTransition):
            await reservations_repo.transition(conn, r.id, bad)
    cancelled = await reservations_repo.transition(conn, r.id, "CANCELLED")
    assert cancelled.cancelled_at is not None
    assert cancelled.confirmed_at == confirmed.confirmed_at
    assert not any(i.active for i in cancelled.items)
    with pytest.raises(InvalidTransition):
        await reservations_repo.transition(conn, r.id, "CONFIRMED")

    expired = await reserve(conn, user, event, seat("C-1-2"))
    await reservations_repo.transition(conn, expired.id, "EXPIRED")
    with pytest.raises(InvalidTransition):
        await reservations_repo.transition(conn, expired.id, "CANCELLED")
    with pytest.raises(ValueError, match="status"):
        await reservations_repo.transition(conn, expired.id, "REFUNDED")
    with pytest.raises(NotFound):
        await reservations_repo.transition(conn, uuid.uuid4(), "CONFIRMED")
    with pytest.raises(NotFound):
        await reservations_repo.get_reservation(conn, uuid.uuid4())


async def test_invalid_items_are_refused(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord
) -> None:
    with pytest.raises(ValueError, match="twice"):
        await reserve(conn, user, event, seat("A-1-1"), seat("A-1-1"))
    with pytest.raises(ValueError, match="either"):
        await reserve(conn, user, event, ItemSpec(shard=0, hold_id="h", price=1))
    with pytest.raises(NotFound):
        await reserve(conn, user, event, seat("Z-9-9"))


async def test_shard_sales(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord, small_venue: Venue
) -> None:
    plan = await events_repo.shard_plan(conn, event.id)
    home, away = plan["STAND"], 1 - plan["STAND"]
    mine = [s.id for s in small_venue.seats() if plan[s.section] == home]
    theirs = [s.id for s in small_venue.seats() if plan[s.section] == away]
    assert len(mine) >= 5 and theirs
    rival = await other_user(conn)

    sold = await reserve(
        conn, user, event, seat(mine[2], "h1", home), ga("STAND", 2, "h1", home),
        seat(mine[0], "h1", home), ga("STAND", 1, "h1", home),
    )
    await reservations_repo.transition(conn, sold.id, "CONFIRMED")
    sold_too = await reserve(conn, rival, event, seat(mine[1], "h4", home))
    await reservations_repo.transition(conn, sold_too.id, "CONFIRMED")
    await reserve(conn, rival, event, seat(mine[3], "h2", home))
    gone = await reserve(conn, rival, event, seat(mine[4], "h3", home))
    await reservations_repo.transition(conn, gone.id, "CANCELLED")
    elsewhere = await reserve(conn, user, event, seat(theirs[0], "h5", away))
    await reservations_repo.transition(conn, elsewhere.id, "CONFIRMED")

    sales, active = await reservations_repo.shard_sales(conn, event_id=event.id, shard=home)
    assert sales == [
        ConfirmedSale("h1", str(user.id), (mine[2], mine[0]), (("STAND", 3),)),
        ConfirmedSale("h4", str(rival.id), (mine[1],), ()),
    ]
    assert active == {"h1", "h2", "h4"}
    sales, active = await reservations_repo.shard_sales(conn, event_id=event.id, shard=away)
    assert sales == [ConfirmedSale("h5", str(user.id), (theirs[0],), ())]
    assert active == {"h5"}


async def test_list_reservations_filters_pages_and_loads_items_in_one_query(
    conn: asyncpg.Connection, user: UserRecord, event: EventRecord
) -> None:
    rival = await other_user(conn)
    mine = [await reserve(conn, user, event, seat(f"A-1-{n}", f"h{n}"), ga("GA", n, f"h{n}"))
            for n in (1, 2, 3)]
    theirs = await reserve(conn, rival, event, seat("B-1-1", "r1"))
    mine[0] = await reservations_repo.transition(conn, mine[0].id, "CONFIRMED")
    mine[1] = await reservations_repo.transition(conn, mine[1].id, "CANCELLED")
    newest_first = sorted(mine, key=lambda r: (r.created_at, r.id), reverse=True)

    queries: list[str] = []
    with conn.query_logger(lambda record: queries.append(record.query)):
        rows, total = await reservations_repo.list_reservations(conn, user_id=user.id)
        await asyncio.sleep(0)  # the logger hears of a query just after it ends
    assert (rows, total) == (newest_first, 3)
    assert len(queries) == 2  # the page, then the items of all its reservations

    every, total = await reservations_repo.list_reservations(conn, event_id=event.id)
    assert total == 4 and theirs in every
    rows, total = await reservations_repo.list_reservations(
        conn, user_id=user.id, statuses=["PENDING", "CONFIRMED"])
    assert (rows, total) == ([r for r in newest_first if r is not mine[1]], 2)
    second, total = await reservations_repo.list_reservations(
        conn, event_id=event.id, page=2, page_size=3)
    first, _ = await reservations_repo.list_reservations(
        conn, event_id=event.id, page=1, page_size=3)
    assert (len(first), len(second), total) == (3, 1, 4)
    assert {r.id for r in first + second} == {r.id for r in every}
    assert await reservations_repo.list_reservations(
        conn, event_id=event.id, page=3, page_size=3) == ([], 4)
    created = mine[0].created_at
    assert (await reservations_repo.list_reservations(
        conn, user_id=user.id, created_from=created))[1] == 3
    assert await reservations_repo.list_reservations(
        conn, user_id=user.id, created_to=created) == ([], 0)
    assert await reservations_repo.list_reservations(conn, user_id=uuid.uuid4()) == ([], 0)


async def test_concurrent_reservations_of_a_seat_sell_it_once(
    database: str, small_venue: Venue, new_event: Callable[..., NewEvent]
) -> None:
    setup = await connect(database)
    event = await events_repo.create_event(setup, new_event("Race"), small_venue)
    try:
        users = [await other_user(setup, f"racer{n}@example.com") for n in range(4)]
        conns = [await connect(database) for _ in users]
        try:
            outcomes = await asyncio.gather(
                *(
                    reservations_repo.create_pending(
                        c, user_id=u.id, event_id=event.id, items=[seat("B-1-4", f"h{n}")],
                        expires_at=datetime.now(UTC) + timedelta(minutes=10),
                    )
                    for n, (c, u) in enumerate(zip(conns, users, strict=True))
                ),
                return_exceptions=True,
            )
        finally:
            for c in conns:
                await c.close()
        won = [o for o in outcomes if isinstance(o, ReservationRecord)]
        lost = [o for o in outcomes if isinstance(o, SeatAlreadyReserved)]
        assert (len(won), len(lost)) == (1, 3)
        assert all(e.seat_ids == ["B-1-4"] for e in lost)
    finally:
        await setup.execute("DELETE FROM reservations WHERE event_id = $1", event.id)
        await setup.execute("DELETE FROM events WHERE id = $1", event.id)
        await setup.execute("DELETE FROM users WHERE email LIKE 'racer%@example.com'")
        await setup.close()
