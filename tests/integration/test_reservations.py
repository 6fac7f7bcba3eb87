"""The reservation use cases (`engine.saga.reservations`) on the real PostgreSQL, with an
event's seats in this process (the real router over shard hosts, `tests.unit.local_shards`):
a reservation is priced by the server and covers only its user's live holds; while payments
are down the hold goes back on sale; cancelling gives the seats back and tells the outbox.
The purchase saga's payment window is read from its injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from engine.core.clock import ManualClock
from engine.core.errors import HoldNotFound
from engine.core.inventory import HoldPolicy
from engine.payments.payment import Payment
from engine.provision import create_event
from engine.router.seats import SeatRouter
from engine.saga import reservations
from engine.saga.errors import Kind, Refused
from engine.saga.purchase import PurchaseSaga, SagaError
from engine.store import outbox_repo, payments_repo, reservations_repo, saga_repo
from engine.store.pool import create_pool
from engine.store.records import EventRecord, ItemSpec, ReservationRecord
from tests.sales import new_user
from tests.unit.helpers import small_venue
from tests.unit.local_shards import LocalSeatShards

VENUE = small_venue(ga=6)  # A seats cost 100, B seats 50, standing (GA) 70


@dataclass
class Sale:
    pool: asyncpg.Pool
    event: EventRecord
    router: SeatRouter
    local: LocalSeatShards
    payments_down: bool = False

    async def seats_for(self, event_id: str) -> SeatRouter:
        assert event_id == str(self.event.id)
        return self.router

    async def refusing(self) -> bool:
        return self.payments_down

    async def user(self) -> UUID:
        async with self.pool.acquire() as conn:
            return UUID(await new_user(conn, "buyer"))

    async def reserve(self, user: UUID, hold_id: str, *,
                      key: str | None = None) -> ReservationRecord:
        return await reservations.reserve(
            self.pool, self.seats_for, self.refusing, user_id=user, event_id=self.event.id,
            hold_id=hold_id, key=key or f"k-{hold_id}", idempotency_key=key)

    async def free(self) -> int:
        return int((await self.router.availability())["totals"]["available"])


@pytest.fixture
async def sale(database: str) -> AsyncIterator[Sale]:
    pool = await create_pool(database, min_size=1, max_size=4)
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        event = await create_event(conn, title="Use cases", venue=VENUE, category="concert",
                                   starts_at=now + timedelta(days=7),
                                   sale_opens_at=now - timedelta(hours=1), shard_count=2)
    local = LocalSeatShards(VENUE, 2, HoldPolicy(user_limit=6))
    await local.start()
    router = SeatRouter(local, local.infos(), hint_refresh_s=0.0)
    try:
        yield Sale(pool, event, router, local)
    finally:
        await router.close()
        await local.close()
        await pool.close()


async def test_a_reservation_is_priced_by_the_server_and_expires_with_its_hold(
        sale: Sale) -> None:
    user = await sale.user()
    seated = await sale.router.hold(str(user), ["A-1-1", "B-1-1"], "seated")
    reservation = await sale.reserve(user, seated.hold_id)
    assert (reservation.status, reservation.total_amount) == ("PENDING", 150)
    assert sorted((i.seat_id, i.price) for i in reservation.items) == [("A-1-1", 100),
                                                                       ("B-1-1", 50)]
    assert reservation.expires_at == datetime.fromtimestamp(seated.expires_at, UTC)
    standing = await sale.router.hold_ga(str(user), "GA", 2, "standing")
    ga = await sale.reserve(user, standing.hold_id)
    assert [(i.ticket_type_id, i.quantity, i.price) for i in ga.items] == [("GA", 2, 70)]
    assert ga.total_amount == 140


async def test_a_retry_with_the_same_key_returns_the_same_reservation(sale: Sale) -> None:
    user = await sale.user()
    view = await sale.router.hold(str(user), ["A-2-1"], "h")
    first = await sale.reserve(user, view.hold_id, key="client-key")
    again = await sale.reserve(user, view.hold_id, key="client-key")
    assert again.id == first.id


async def test_only_the_owner_of_a_live_hold_reserves_it(sale: Sale) -> None:
    owner, stranger = await sale.user(), await sale.user()
    view = await sale.router.hold(str(owner), ["A-1-2"], "h")
    with pytest.raises(Refused) as not_owned:
        await sale.reserve(stranger, view.hold_id)
    assert (not_owned.value.code, not_owned.value.kind) == ("HOLD_NOT_OWNED", Kind.FORBIDDEN)
    await sale.router.confirm(str(owner), view.hold_id, "sold elsewhere")
    with pytest.raises(Refused) as sold:
        await sale.reserve(owner, view.hold_id)
    assert (sold.value.code, sold.value.kind) == ("HOLD_NOT_LIVE", Kind.CONFLICT)
    gone = await sale.router.hold(str(owner), ["A-1-5"], "gone")
    await sale.router.release(str(owner), gone.hold_id, "let go")
    with pytest.raises(HoldNotFound):
        await sale.reserve(owner, gone.hold_id)
    async with sale.pool.acquire() as conn:
        rows, _ = await reservations_repo.list_reservations(conn, event_id=sale.event.id)
    assert rows == []


async def test_a_seat_already_reserved_is_refused_with_its_id(sale: Sale) -> None:
    rival, user = await sale.user(), await sale.user()
    async with sale.pool.acquire() as conn:  # a pending reservation left by an earlier hold
        await reservations_repo.create_pending(
            conn, user_id=rival, event_id=sale.event.id,
            items=[ItemSpec(shard=0, hold_id="old", price=100, seat_id="A-3-1")],
            expires_at=datetime.now(UTC) + timedelta(minutes=5))
    view = await sale.router.hold(str(user), ["A-3-1", "A-3-2"], "h")
    with pytest.raises(Refused) as taken:
        await sale.reserve(user, view.hold_id)
    assert (taken.value.code, taken.value.details) == ("SEAT_RESERVED", {"seat_ids": ["A-3-1"]})


async def test_while_payments_are_down_the_hold_goes_back_on_sale(sale: Sale) -> None:
    user = await sale.user()
    free = await sale.free()
    view = await sale.router.hold(str(user), ["A-1-3", "A-1-4"], "h")
    assert await sale.free() == free - 2
    sale.payments_down = True
    with pytest.raises(Refused) as down:
        await sale.reserve(user, view.hold_id)
    assert (down.value.code, down.value.kind, down.value.retry_after_s) == (
        "PAYMENTS_UNAVAILABLE", Kind.UNAVAILABLE, 30)
    assert await sale.free() == free


async def test_cancelling_gives_the_seats_back_and_tells_the_outbox_once(sale: Sale) -> None:
    user = await sale.user()
    free = await sale.free()
    view = await sale.router.hold(str(user), ["B-2-1", "B-2-2"], "h")
    reservation = await sale.reserve(user, view.hold_id)
    cancelled = await reservations.cancel(sale.pool, sale.seats_for, reservation.id,
                                          viewer=user, admin=False)
    assert cancelled.status == "CANCELLED"
    assert await sale.free() == free
    again = await reservations.cancel(sale.pool, sale.seats_for, reservation.id,
                                      viewer=user, admin=False)
    assert again.status == "CANCELLED"
    async with sale.pool.acquire() as conn:
        events = await outbox_repo.events_of(conn, str(reservation.id))
    assert [(e.event_type, e.payload) for e in events if e.event_type != "ReservationCreated"
            ] == [("ReservationCancelled", {
                "reservation_id": str(reservation.id), "event_id": str(sale.event.id),
                "user_id": str(user), "reason": "cancelled", "refunded": 0})]


async def test_only_its_owner_or_an_administrator_cancels_a_reservation(sale: Sale) -> None:
    owner, stranger = await sale.user(), await sale.user()
    view = await sale.router.hold(str(owner), ["A-2-2"], "h")
    reservation = await sale.reserve(owner, view.hold_id)
    with pytest.raises(Refused) as forbidden:
        await reservations.cancel(sale.pool, sale.seats_for, reservation.id,
                                  viewer=stranger, admin=False)
    assert (forbidden.value.code, forbidden.value.kind) == ("FORBIDDEN", Kind.FORBIDDEN)
    by_admin = await reservations.cancel(sale.pool, sale.seats_for, reservation.id,
                                         viewer=stranger, admin=True)
    assert by_admin.status == "CANCELLED"


async def test_a_paid_or_paying_reservation_is_cancelled_through_its_payment(
        sale: Sale) -> None:
    user = await sale.user()
    paying = await sale.reserve(user, (await sale.router.hold(str(user), ["A-2-3"], "a")
                                       ).hold_id)
    paid = await sale.reserve(user, (await sale.router.hold(str(user), ["A-2-4"], "b")
                                     ).hold_id)
    async with sale.pool.acquire() as conn:
        await saga_repo.start(conn, kind="purchase", reservation_id=paying.id,
                              state="PREPARED", data={"amount": paying.total_amount},
                              next_attempt_at=paying.expires_at)
        await reservations_repo.transition(conn, paid.id, "CONFIRMED")
    for reservation, code in ((paying, "PAYMENT_OPEN"), (paid, "REFUND_REQUIRED")):
        with pytest.raises(Refused) as refused:
            await reservations.cancel(sale.pool, sale.seats_for, reservation.id, viewer=user,
                                      admin=False)
        assert (refused.value.code, refused.value.kind) == (code, Kind.CONFLICT)
    async with sale.pool.acquire() as conn:
        assert (await reservations_repo.get_reservation(conn, paying.id)).status == "PENDING"


class NoGateway:
    """The saga's gateway port, for a test in which it must not be called."""

    async def confirm(self, payment_key: str, order_id: str, amount: int, *,
                      idempotency_key: str | None = None) -> Payment:
        raise AssertionError("the gateway was called")

    async def cancel(self, payment_key: str, reason: str, *, amount: int | None = None,
                     idempotency_key: str | None = None) -> Payment:
        raise AssertionError("the gateway was called")

    async def get_payment_by_order(self, order_id: str) -> Payment:
        raise AssertionError("the gateway was called")


async def test_the_payment_window_ends_by_the_sagas_clock(sale: Sale) -> None:
    user = await sale.user()
    view = await sale.router.hold(str(user), ["B-1-2"], "h")
    reservation = await sale.reserve(user, view.hold_id)
    clock = ManualClock(reservation.expires_at.timestamp())
    saga = PurchaseSaga(sale.pool, NoGateway(), sale.seats_for, clock=clock)
    with pytest.raises(SagaError) as late:
        await saga.prepare(user, reservation.id)
    assert (late.value.code, late.value.kind) == ("RESERVATION_EXPIRED", Kind.CONFLICT)
    clock.set(reservation.expires_at.timestamp() - 1)
    payment = await saga.prepare(user, reservation.id)
    assert (payment.amount, payment.status) == (50, "READY")
    async with sale.pool.acquire() as conn:
        assert await payments_repo.find_by_order(conn, str(reservation.id)) == payment
