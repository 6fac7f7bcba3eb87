"""The catalogue's queries against a real PostgreSQL: search filters, orders and pages, the
effective status, edits, deletion, prices and revenue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from engine.core.venue import Venue
from engine.store import catalog_repo, events_repo, reservations_repo
from engine.store.catalog_repo import EventFilter
from engine.store.errors import Conflict, NotFound
from engine.store.records import EventRecord, ItemSpec, NewEvent, UserRecord

NOW = datetime.now(UTC)


@pytest.fixture
async def lineup(conn: asyncpg.Connection, small_venue: Venue,
                 new_event: Callable[..., NewEvent]) -> tuple[str, dict[str, EventRecord]]:
    """Four events of a category of their own: one whose sale is open, one whose sale has
    closed, one still to open, and a draft."""
    category = f"catalog-{uuid.uuid4().hex[:8]}"
    day = timedelta(days=1)
    specs = {
        "open": ("Alpha 100% live", NOW + 3 * day, NOW - day, None, "upcoming"),
        "closed": ("beta_night", NOW + 2 * day, NOW - 2 * day, NOW - day, "on_sale"),
        "later": ("Gamma", NOW + 5 * day, NOW + day, None, "upcoming"),
        "draft": ("Delta", NOW + 4 * day, NOW + day, None, "draft"),
    }
    events = {
        key: await events_repo.create_event(conn, replace(
            new_event(title), category=category, starts_at=starts, sale_opens_at=opens,
            sale_closes_at=closes, status=status), small_venue)
        for key, (title, starts, opens, closes, status) in specs.items()
    }
    return category, events


async def search(conn: asyncpg.Connection, category: str, **filters: object
                 ) -> tuple[list[tuple[str, str]], int]:
    rows, total = await catalog_repo.search_events(
        conn, EventFilter(category=category.upper(), **filters))  # type: ignore[arg-type]
    return [(e.title, status) for e, status in rows], total


async def test_search_filters_with_effective_status(
    conn: asyncpg.Connection, lineup: tuple[str, dict[str, EventRecord]]
) -> None:
    category, events = lineup
    assert await search(conn, category) == (
        [("beta_night", "closed"), ("Alpha 100% live", "on_sale"), ("Gamma", "upcoming")], 3)
    assert await search(conn, category, statuses=["on_sale", "upcoming"]) == (
        [("Alpha 100% live", "on_sale"), ("Gamma", "upcoming")], 2)
    assert await search(conn, category, q="ALPHA") == ([("Alpha 100% live", "on_sale")], 1)
    assert await search(conn, category, q="100%") == ([("Alpha 100% live", "on_sale")], 1)
    assert await search(conn, category, q="a_n") == ([("beta_night", "closed")], 1)
    assert await search(conn, category, q="0%l") == ([], 0)  # % and _ match themselves
    assert (await search(conn, category, venue="small hall"))[1] == 3
    assert (await search(conn, category, venue="Arena"))[1] == 0
    starts = events["open"].starts_at
    assert await search(conn, category, starts_from=starts) == (
        [("Alpha 100% live", "on_sale"), ("Gamma", "upcoming")], 2)
    assert await search(conn, category, starts_to=starts) == ([("beta_night", "closed")], 1)
    assert await catalog_repo.get_event_with_status(conn, events["draft"].id) == (
        events["draft"], "draft")
    assert (await catalog_repo.get_event_with_status(conn, events["open"].id))[1] == "on_sale"
    with pytest.raises(NotFound):
        await catalog_repo.get_event_with_status(conn, uuid.uuid4())


@pytest.mark.parametrize(("sort", "titles"), [
    ("startsAt", ["beta_night", "Alpha 100% live", "Gamma"]),
    ("-startsAt", ["Gamma", "Alpha 100% live", "beta_night"]),
    ("saleOpensAt", ["beta_night", "Alpha 100% live", "Gamma"]),
    ("title", ["Alpha 100% live", "beta_night", "Gamma"]),
    ("-title", ["Gamma", "beta_night", "Alpha 100% live"]),
])
async def test_search_orders(conn: asyncpg.Connection,
                             lineup: tuple[str, dict[str, EventRecord]], sort: str,
                             titles: list[str]) -> None:
    rows, _ = await search(conn, lineup[0], sort=sort)
    assert [title for title, _ in rows] == titles


async def test_search_pages_and_ties(conn: asyncpg.Connection,
                                     lineup: tuple[str, dict[str, EventRecord]]) -> None:
    category, events = lineup
    # One transaction: every event has the same created_at, so the id decides.
    ids = sorted(e.id for key, e in events.items() if key != "draft")
    for sort, expected in (("createdAt", ids), ("-createdAt", ids[::-1])):
        rows, _ = await catalog_repo.search_events(conn, EventFilter(category=category,
                                                                     sort=sort))
        assert [e.id for e, _ in rows] == expected
    assert await search(conn, category, page=2, page_size=2) == (
        [("Gamma", "upcoming")], 3)
    assert await search(conn, category, page=3, page_size=2) == ([], 3)
    assert await search(conn, category, q="nothing like it", page=2) == ([], 0)
    with pytest.raises(ValueError, match="sort"):
        await search(conn, category, sort="price")


async def test_update_event(conn: asyncpg.Connection, event: EventRecord) -> None:
    later = event.starts_at + timedelta(hours=3)
    updated = await catalog_repo.update_event(
        conn, event.id, {"title": "Encore", "ends_at": later, "per_user_limit": 2})
    assert (updated.title, updated.ends_at, updated.settings.per_user_limit) == (
        "Encore", later, 2)
    assert (updated.description, updated.category, updated.status) == (
        event.description, event.category, event.status)
    assert updated.version == event.version + 1
    cleared = await catalog_repo.update_event(conn, event.id, {"ends_at": None})
    assert (cleared.ends_at, cleared.title, cleared.version) == (None, "Encore",
                                                                 event.version + 2)
    assert await catalog_repo.update_event(conn, event.id, {}) == cleared
    with pytest.raises(ValueError, match="not editable: slug"):
        await catalog_repo.update_event(conn, event.id, {"slug": "x"})
    with pytest.raises(NotFound):
        await catalog_repo.update_event(conn, uuid.uuid4(), {"title": "x"})
    with pytest.raises(NotFound):
        await catalog_repo.update_event(conn, uuid.uuid4(), {})
    with pytest.raises(Conflict, match="rule of events"):  # last: it aborts the transaction
        await catalog_repo.update_event(conn, event.id, {"per_user_limit": 0})


async def test_delete_prices_and_revenue(conn: asyncpg.Connection, event: EventRecord,
                                         user: UserRecord) -> None:
    prices = await catalog_repo.seat_prices(conn, event.id, ["A-1-1", "C-2-1", "Z-9-9"])
    assert prices == {"A-1-1": 150_000, "C-2-1": 60_000}
    assert await catalog_repo.ticket_type_prices(conn, event.id) == {
        "GA": 50_000, "STAND": 70_000}

    async def reserve(seat_id: str) -> uuid.UUID:
        record = await reservations_repo.create_pending(
            conn, user_id=user.id, event_id=event.id, expires_at=NOW + timedelta(minutes=5),
            items=[ItemSpec(shard=0, hold_id=seat_id, price=prices[seat_id],
                            seat_id=seat_id)])
        return record.id

    sold, dropped = await reserve("A-1-1"), await reserve("C-2-1")
    await reservations_repo.transition(conn, sold, "CONFIRMED")
    assert await catalog_repo.has_reservations(conn, event.id)
    other = uuid.uuid4()
    assert await catalog_repo.revenue(conn, [event.id, other]) == {
        event.id: {"revenue": 150_000, "confirmed": 1, "pending": 1}, other: {"revenue": 0}}
    assert await catalog_repo.figures(conn, [event.id]) == {}
    with pytest.raises(Conflict, match="pending or confirmed"):
        await catalog_repo.delete_event(conn, event.id)

    await reservations_repo.transition(conn, sold, "CANCELLED")
    await reservations_repo.transition(conn, dropped, "EXPIRED")
    assert not await catalog_repo.has_reservations(conn, event.id)
    await catalog_repo.delete_event(conn, event.id)
    assert await events_repo.find_event(conn, event.id) is None
    assert await conn.fetchval("SELECT count(*) FROM reservations WHERE event_id = $1",
                               event.id) == 0
    with pytest.raises(NotFound):
        await catalog_repo.delete_event(conn, event.id)
