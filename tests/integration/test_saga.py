"""The purchase saga on the real PostgreSQL, Redis (a seat shard's journal, without Ray) and
the fake gateway over real HTTP: every gateway failure mode and a crash between every pair of
steps end in a consistent state, which `tiketi audit` confirms."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from api.errors import from_refusal
from engine.actors.config import ShardConfig
from engine.actors.services import SeatShardService
from engine.audit.command import run_audit
from engine.core.commands import Extend
from engine.core.errors import DomainError
from engine.core.inventory import HoldView
from engine.core.saga import SagaState
from engine.local.redis_server import EmbeddedRedis
from engine.payments.breaker import CircuitBreaker
from engine.payments.fake_faults import Fault
from engine.payments.fake_gateway import FakeGatewayServer
from engine.payments.toss import TossPaymentsClient
from engine.router.seats import SeatRouter
from engine.saga.purchase import OutcomePending, PurchaseSaga, SagaError
from engine.store import outbox_repo, payments_repo, reservations_repo, saga_repo
from engine.store.pool import create_pool
from engine.store.records import EventRecord
from engine.store.saga_repo import SagaMoved
from tests.integration import test_shard_services as shard_tests
from tests.integration.service_transport import ServiceTransport, router_over
from tests.integration.test_shard_services import Services
from tests.sales import items_of, new_user

make_event = shard_tests.make_event
config = shard_tests.config
services = shard_tests.services

SECRET = "test_sk_saga"


def http_status(refusal: SagaError) -> int:
    """The status the API answers the refusal with."""
    return from_refusal(refusal).status


class Crash(BaseException):
    """The process dies here (nothing catches it)."""


@pytest.fixture(scope="module")
def gateway_server() -> Iterator[FakeGatewayServer]:
    with FakeGatewayServer(SECRET) as server:
        yield server


class World:
    def __init__(self, event: EventRecord, cfg: ShardConfig, services: Services,
                 shard: SeatShardService, pool: asyncpg.Pool, server: FakeGatewayServer,
                 database: str, redis_url: str) -> None:
        self.event, self.cfg, self.services, self.shard = event, cfg, services, shard
        self.pool, self.server, self.database, self.redis_url = pool, server, database, redis_url
        self.breaker = CircuitBreaker(failure_threshold=50, reset_after_s=0.5)
        self.client = TossPaymentsClient(server.url, SECRET, timeout_s=0.5, max_retries=1,
                                         backoff_s=0.01, breaker=self.breaker)
        self.seats, self.transport = router_over([shard])
        self.saga = self.new_saga()

    def new_saga(self) -> PurchaseSaga:
        async def seats_for(event_id: str) -> SeatRouter:
            return self.seats

        return PurchaseSaga(self.pool, self.client, seats_for)

    async def restart_shard(self) -> None:
        await self.shard.close()
        self.services.started.remove(self.shard)
        self.shard = await self.services.seats(self.cfg)
        self.transport.services[0] = self.shard

    async def reserve(self, seat: str, *, ttl_s: float = 600) -> tuple[str, UUID, HoldView]:
        async with self.pool.acquire() as conn:
            user = await new_user(conn, "buyer")
            view = await self.seats.hold(user, [seat], f"h-{seat}-{user}")
            reservation = await reservations_repo.create_pending(
                conn, user_id=UUID(user), event_id=self.event.id, items=items_of(view, 0),
                expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s))
        return user, reservation.id, view

    async def pay(self, user: str, reservation_id: UUID) -> tuple[str, int]:
        payment = await self.saga.prepare(UUID(user), reservation_id)
        key = self.server.gateway.checkout(payment.order_id, payment.amount)
        return key, payment.amount

    async def states(self, reservation_id: UUID) -> tuple[str, str | None, str]:
        async with self.pool.acquire() as conn:
            reservation = await reservations_repo.get_reservation(conn, reservation_id)
            payment = await payments_repo.find_by_order(conn, str(reservation_id))
            saga = await saga_repo.for_reservation(conn, reservation_id)
        return reservation.status, payment.status if payment else None, saga.state

    async def seat_state(self, seat: str) -> int:
        ids, states = await self.shard.read(
            lambda s: (s.inventory.seat_ids, s.inventory.seat_states()))
        return states[list(ids).index(seat)]

    async def audit_clean(self) -> None:
        result = await run_audit(self.database, self.redis_url, self.cfg.namespace,
                                 self.event.id)
        assert result.ok, result.violations

    async def events(self, reservation_id: UUID) -> list[str]:
        async with self.pool.acquire() as conn:
            return [e.event_type for e in await outbox_repo.events_of(conn,
                                                                      str(reservation_id))]


@pytest.fixture
async def world(make_event: Callable[..., Any], config: Callable[..., ShardConfig],
                services: Services, database: str, redis_server: EmbeddedRedis,
                gateway_server: FakeGatewayServer) -> AsyncIterator[World]:
    event = await make_event()
    cfg = config(event)
    shard = await services.seats(cfg)
    pool = await create_pool(database, min_size=1, max_size=6)
    w = World(event, cfg, services, shard, pool, gateway_server, database, redis_server.url)
    gateway_server.gateway.clear_faults()
    try:
        yield w
    finally:
        gateway_server.gateway.clear_faults()
        await w.client.aclose()
        await pool.close()


async def test_a_purchase_sells_the_seats_and_records_the_payment(world: World) -> None:
    user, rid, _ = await world.reserve("A-1-1")
    key, amount = await world.pay(user, rid)
    reservation, payment = await world.saga.confirm(UUID(user), str(rid), key, amount)
    assert (reservation.status, payment.status) == ("CONFIRMED", "DONE")
    assert await world.states(rid) == ("CONFIRMED", "DONE", "COMPLETED")
    assert await world.seat_state("A-1-1") == 2
    assert await world.events(rid) == ["ReservationCreated", "PaymentCompleted"]
    again = await world.saga.confirm(UUID(user), str(rid), key, amount)  # a retry: same
    assert again[0].status == "CONFIRMED"
    assert world.server.gateway.payment(key)["status"] == "DONE"  # type: ignore[index]
    await world.audit_clean()


async def test_bad_input_changes_nothing(world: World) -> None:
    user, rid, _ = await world.reserve("A-1-2")
    key, amount = await world.pay(user, rid)
    with pytest.raises(SagaError) as wrong_amount:
        await world.saga.confirm(UUID(user), str(rid), key, amount - 1)
    assert (wrong_amount.value.code, http_status(wrong_amount.value)) == ("AMOUNT_MISMATCH",
                                                                          422)
    stranger = UUID(int=7)
    with pytest.raises(SagaError) as not_yours:
        await world.saga.confirm(stranger, str(rid), key, amount)
    assert http_status(not_yours.value) in (403, 404)
    assert await world.states(rid) == ("PENDING", "READY", "PREPARED")
    await world.audit_clean()


async def test_a_refused_card_fails_the_purchase_and_frees_the_seats(world: World) -> None:
    user, rid, _ = await world.reserve("A-1-3")
    key, amount = await world.pay(user, rid)
    world.server.gateway.add_fault(Fault("confirm", "error", order_id=str(rid),
                                         code="REJECT_CARD_COMPANY", status=403))
    with pytest.raises(SagaError) as refused:
        await world.saga.confirm(UUID(user), str(rid), key, amount)
    assert refused.value.code == "REJECT_CARD_COMPANY"
    assert await world.states(rid) == ("FAILED", "ABORTED", "FAILED")
    assert await world.seat_state("A-1-3") == 0
    assert "PaymentFailed" in await world.events(rid)
    await world.audit_clean()


@pytest.mark.parametrize("action", ["lost_reply", "drop", "malformed", "duplicate", "latency"])
async def test_a_confirm_whose_reply_goes_wrong_is_settled_by_looking_it_up(
        world: World, action: str) -> None:
    user, rid, _ = await world.reserve("A-2-1")
    key, amount = await world.pay(user, rid)
    world.server.gateway.add_fault(Fault("confirm", action, order_id=str(rid), times=None,
                                         delay_s=0.05))
    try:
        reservation, _ = await world.saga.confirm(UUID(user), str(rid), key, amount)
    except OutcomePending:
        world.server.gateway.clear_faults()
        assert await world.new_saga().resume(rid) in ("COMPLETED", "FAILED")
        reservation = await _reservation(world, rid)
    status, payment, saga = await world.states(rid)
    charged = world.server.gateway.payment(key)
    assert charged is not None
    if charged["status"] == "DONE":
        assert (status, payment, saga) == ("CONFIRMED", "DONE", "COMPLETED")
        assert await world.seat_state("A-2-1") == 2
    else:
        assert (status, saga) == ("FAILED", "FAILED")
        assert await world.seat_state("A-2-1") == 0
    assert reservation.status == status
    await world.audit_clean()


async def test_a_gateway_that_never_answers_leaves_the_saga_to_recovery(world: World) -> None:
    user, rid, _ = await world.reserve("A-2-2")
    key, amount = await world.pay(user, rid)
    world.server.gateway.add_fault(Fault("confirm", "timeout", times=None, delay_s=2.0))
    world.server.gateway.add_fault(Fault("get_by_order", "error", times=None,
                                         code="PROVIDER_ERROR", status=500))
    with pytest.raises(OutcomePending):
        await world.saga.confirm(UUID(user), str(rid), key, amount)
    assert await world.states(rid) == ("PENDING", "IN_PROGRESS", "CONFIRMING")
    assert await world.seat_state("A-2-2") == 1  # still held: the outcome is unknown
    world.server.gateway.clear_faults()
    async with world.pool.acquire() as conn:
        await conn.execute("UPDATE sagas SET next_attempt_at = now() WHERE reservation_id = $1",
                           rid)
    assert await world.new_saga().recover() >= 1
    # The confirm never got through; recovery sends it again (same idempotency key) now that
    # the gateway answers, and the purchase completes, charged once.
    assert await world.states(rid) == ("CONFIRMED", "DONE", "COMPLETED")
    assert await world.seat_state("A-2-2") == 2
    assert world.server.gateway.calls["confirm"] >= 2
    await world.audit_clean()


@pytest.mark.parametrize("step", ["_settle_payment", "_record_sale", "_sell_seats"])
async def test_a_crash_between_steps_is_finished_by_recovery(
        world: World, step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    user, rid, _ = await world.reserve("B-1-1")
    key, amount = await world.pay(user, rid)
    original = getattr(PurchaseSaga, step)

    async def crash(self: PurchaseSaga, *args: Any) -> Any:
        await original(self, *args)  # the step's work is done and committed ...
        raise Crash  # ... and the process dies before the next one

    monkeypatch.setattr(PurchaseSaga, step, crash)
    with pytest.raises(Crash):
        await world.saga.confirm(UUID(user), str(rid), key, amount)
    monkeypatch.setattr(PurchaseSaga, step, original)
    await world.restart_shard()  # the shard restarts too, from its journal
    assert await world.new_saga().resume(rid) == "COMPLETED"
    assert await world.states(rid) == ("CONFIRMED", "DONE", "COMPLETED")
    assert await world.seat_state("B-1-1") == 2
    charged = world.server.gateway.payment(key)
    assert charged is not None and charged["status"] == "DONE"
    await world.audit_clean()


async def test_a_hold_lost_after_payment_is_refunded(world: World) -> None:
    user, rid, view = await world.reserve("B-1-2")
    key, amount = await world.pay(user, rid)
    await world.seats.release(user, view.hold_id, "gone")  # e.g. expired by the sweeper
    with pytest.raises(SagaError) as lost:
        await world.saga.confirm(UUID(user), str(rid), key, amount)
    assert lost.value.code == "HOLD_LOST"
    assert await world.states(rid) == ("CANCELLED", "CANCELED", "FAILED")
    charged = world.server.gateway.payment(key)
    assert charged is not None and charged["status"] == "CANCELED"  # the money went back
    assert await world.seat_state("B-1-2") == 0
    await world.audit_clean()


@pytest.mark.parametrize("fails_at", ["release", "cancel_sale"])
async def test_a_crash_inside_a_compensation_is_finished_by_recovery(
        world: World, fails_at: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The payment is approved, then the hold turns out lost (compensate: refund, release) or
    the buyer asks for a refund (refund, un-sell); the process dies after the refund."""
    user, rid, view = await world.reserve("C-2-1")
    key, amount = await world.pay(user, rid)
    if fails_at == "release":
        await world.seats.release(user, view.hold_id, "gone")
    else:
        await world.saga.confirm(UUID(user), str(rid), key, amount)
    original = getattr(world.seats, fails_at)

    async def crash(*args: Any) -> Any:
        raise Crash

    monkeypatch.setattr(world.seats, fails_at, crash)
    run = (world.saga.confirm(UUID(user), str(rid), key, amount) if fails_at == "release"
           else world.saga.cancel(UUID(user), str(rid), "refund please"))
    with pytest.raises(Crash):
        await run
    charged = world.server.gateway.payment(key)
    assert charged is not None and charged["status"] == "CANCELED"  # refunded before the crash
    monkeypatch.setattr(world.seats, fails_at, original)
    await world.restart_shard()
    assert await world.new_saga().resume(rid) in ("FAILED", "CANCELLED")
    status, payment, _ = await world.states(rid)
    assert (status, payment) == ("CANCELLED", "CANCELED")
    assert await world.seat_state("C-2-1") == 0
    assert len(world.server.gateway.payment(key)["cancels"]) == 1  # type: ignore[index]
    await world.audit_clean()


async def test_cancelling_a_purchase_refunds_it_and_frees_the_seats(world: World) -> None:
    user, rid, _ = await world.reserve("B-1-3")
    key, amount = await world.pay(user, rid)
    await world.saga.confirm(UUID(user), str(rid), key, amount)
    world.server.gateway.add_fault(Fault("cancel", "lost_reply", times=1))
    reservation, payment = await world.saga.cancel(UUID(user), str(rid), "changed my mind")
    assert reservation.status == "CANCELLED"
    assert payment is not None and payment.status == "CANCELED"
    charged = world.server.gateway.payment(key)
    assert charged is not None and charged["balanceAmount"] == 0
    assert await world.seat_state("B-1-3") == 0
    assert (await world.events(rid))[-1] == "ReservationCancelled"
    await world.audit_clean()


async def test_an_unpaid_reservation_expires_and_its_seats_return(world: World) -> None:
    user, rid, _ = await world.reserve("B-1-4")
    await world.pay(user, rid)
    async with world.pool.acquire() as conn:
        await conn.execute("UPDATE reservations SET expires_at = now() - interval '1 second' "
                           "WHERE id = $1", rid)
    assert await world.new_saga().resume(rid) == "FAILED"
    assert await world.states(rid) == ("EXPIRED", "ABORTED", "FAILED")
    assert await world.seat_state("B-1-4") == 0
    await world.audit_clean()


async def test_a_duplicate_confirm_in_flight_is_refused(world: World) -> None:
    user, rid, _ = await world.reserve("C-1-1")
    key, amount = await world.pay(user, rid)
    world.server.gateway.add_fault(Fault("confirm", "latency", delay_s=0.3))
    first = asyncio.create_task(world.saga.confirm(UUID(user), str(rid), key, amount))
    await asyncio.sleep(0.1)
    with pytest.raises(SagaError) as dup:
        await world.saga.confirm(UUID(user), str(rid), key, amount)
    assert (dup.value.code, http_status(dup.value)) == ("IN_FLIGHT", 409)
    assert (await first)[0].status == "CONFIRMED"
    await world.audit_clean()


async def test_racing_buyers_one_winner_per_seat_and_no_money_kept_from_losers(
        world: World) -> None:
    async def buyer(n: int) -> tuple[str | None, str | None]:
        async with world.pool.acquire() as conn:
            user = await new_user(conn, f"racer{n}")
        try:
            view = await world.seats.hold(user, ["C-2-1", "C-2-2"], f"r{n}")
        except DomainError:
            return None, None  # lost the seats at the hold: never paid
        async with world.pool.acquire() as conn:
            reservation = await reservations_repo.create_pending(
                conn, user_id=UUID(user), event_id=world.event.id, items=items_of(view, 0),
                expires_at=datetime.now(UTC) + timedelta(minutes=5))
        key, amount = await world.pay(user, reservation.id)
        with contextlib.suppress(SagaError):
            await world.saga.confirm(UUID(user), str(reservation.id), key, amount)
        return str(reservation.id), key

    results = await asyncio.gather(*(buyer(n) for n in range(12)))
    paid = [(rid, key) for rid, key in results if rid is not None]
    assert len(paid) == 1  # the shard let one hold through
    statuses = [await world.states(UUID(rid)) for rid, _ in paid]
    assert statuses == [("CONFIRMED", "DONE", "COMPLETED")]
    await world.audit_clean()


async def _reservation(world: World, rid: UUID) -> Any:
    async with world.pool.acquire() as conn:
        return await reservations_repo.get_reservation(conn, rid)




class Watched:
    """Wraps the saga's gateway and seats: at every call out, notes whether the pool had a
    connection checked out."""

    def __init__(self, pool: asyncpg.Pool, inner: Any) -> None:
        self.pool, self.inner = pool, inner
        self.held_during: list[str] = []
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kw: Any) -> Any:
            self.calls += 1
            if self.pool.get_idle_size() != self.pool.get_size():
                self.held_during.append(name)
            return await method(*args, **kw)

        return call


async def test_no_connection_is_held_while_the_gateway_or_a_shard_answers(
        world: World) -> None:
    gateway, seats = Watched(world.pool, world.client), Watched(world.pool, world.seats)

    async def seats_for(event_id: str) -> Any:
        return seats

    saga = PurchaseSaga(world.pool, gateway, seats_for)  # type: ignore[arg-type]
    user, rid, _ = await world.reserve("A-1-1")
    payment = await saga.prepare(UUID(user), rid)
    key = world.server.gateway.checkout(payment.order_id, payment.amount)
    await saga.confirm(UUID(user), str(rid), key, payment.amount)
    await saga.cancel(UUID(user), str(rid), "refund, with a connection watch")
    assert gateway.calls >= 3 and seats.calls >= 3  # confirm, lookup, refund; extend, sell,...
    assert gateway.held_during == [] and seats.held_during == []
    assert await world.states(rid) == ("CANCELLED", "CANCELED", "CANCELLED")
    await world.audit_clean()


async def test_a_saga_another_runner_holds_is_in_flight_until_its_lease_lapses(
        world: World) -> None:
    user, rid, _ = await world.reserve("A-1-1")
    key, amount = await world.pay(user, rid)
    async with world.pool.acquire() as conn:  # a runner in another replica claims it
        assert await saga_repo.claim(conn, rid, owner=uuid.uuid4(), lease_s=600) is not None
    with pytest.raises(SagaError) as busy:
        await world.saga.confirm(UUID(user), str(rid), key, amount)
    assert (busy.value.code, http_status(busy.value)) == ("IN_FLIGHT", 409)
    assert await world.saga.resume(rid) is None
    async with world.pool.acquire() as conn:  # that replica died: its lease runs out
        assert [s.reservation_id for s in await saga_repo.due(conn)].count(rid) == 0
        await conn.execute("UPDATE sagas SET lease_until = now() - interval '1 second' "
                           "WHERE reservation_id = $1", rid)
    reservation, _ = await world.saga.confirm(UUID(user), str(rid), key, amount)
    assert reservation.status == "CONFIRMED"
    assert await world.states(rid) == ("CONFIRMED", "DONE", "COMPLETED")
    await world.audit_clean()


async def test_a_runner_that_outlived_its_lease_records_nothing(world: World) -> None:
    user, rid, _ = await world.reserve("A-1-1")
    key, amount = await world.pay(user, rid)
    async with world.pool.acquire() as conn:
        prepared = await saga_repo.for_reservation(conn, rid)
    await world.saga.confirm(UUID(user), str(rid), key, amount)  # another runner finished it
    async with world.pool.acquire() as conn:
        steps = await saga_repo.steps(conn, prepared.id)
        with pytest.raises(SagaMoved):
            await saga_repo.advance(conn, prepared, SagaState.CONFIRMING, "confirm_requested")
        reservation = await reservations_repo.get_reservation(conn, rid)
    # Its confirm step asks the gateway again (same idempotency key), then finds the saga
    # moved on and stops with the saga as it is.
    confirming = replace(prepared, state=SagaState.CONFIRMING,
                         data={**prepared.data, "payment_key": key})
    after = await world.saga._run(confirming, reservation)  # a stale runner
    assert after.state == SagaState.COMPLETED
    async with world.pool.acquire() as conn:
        assert await saga_repo.steps(conn, prepared.id) == steps
    assert (await world.events(rid)).count("PaymentCompleted") == 1
    await world.audit_clean()


async def test_a_slow_gateway_gets_a_503_and_the_purchase_goes_on(world: World) -> None:
    async def seats_for(event_id: str) -> SeatRouter:
        return world.seats

    saga = PurchaseSaga(world.pool, world.client, seats_for, answer_within_s=0.05)
    user, rid, _ = await world.reserve("A-1-1")
    key, amount = await world.pay(user, rid)
    world.server.gateway.add_fault(Fault("confirm", "latency", order_id=str(rid), delay_s=0.4))
    with pytest.raises(OutcomePending) as pending:
        await saga.confirm(UUID(user), str(rid), key, amount)
    assert http_status(pending.value) == 503
    with pytest.raises(SagaError) as again:  # the purchase is still running: not twice
        await saga.confirm(UUID(user), str(rid), key, amount)
    assert again.value.code in ("IN_FLIGHT", "PAYMENT_OUTCOME_PENDING")
    await saga.close(grace_s=30)
    assert await world.states(rid) == ("CONFIRMED", "DONE", "COMPLETED")
    assert world.server.gateway.calls["confirm"] >= 1
    await world.audit_clean()


async def test_a_shard_that_does_not_answer_gets_a_503_not_a_hang(world: World) -> None:
    class Stuck(ServiceTransport):
        async def call(self, shard: int, command: Any) -> Any:
            if isinstance(command, Extend):
                await asyncio.Event().wait()
            return await super().call(shard, command)

    async def seats_for(event_id: str) -> SeatRouter:
        return SeatRouter(Stuck([world.shard]), [world.shard.describe()])

    saga = PurchaseSaga(world.pool, world.client, seats_for, answer_within_s=0.05)
    user, rid, _ = await world.reserve("A-1-1")
    with pytest.raises(SagaError) as unavailable:
        await saga.prepare(UUID(user), rid)
    assert http_status(unavailable.value) == 503
    async with world.pool.acquire() as conn:
        assert await saga_repo.find_for_reservation(conn, rid) is None  # nothing recorded
    await world.pay(user, rid)  # the shard is back: preparing again works
    assert await world.states(rid) == ("PENDING", "READY", "PREPARED")


async def test_preparing_at_once_several_times_opens_one_payment(world: World) -> None:
    user, rid, _ = await world.reserve("A-1-1")
    payments = await asyncio.gather(*(world.saga.prepare(UUID(user), rid) for _ in range(4)))
    assert len({p.id for p in payments}) == 1
    async with world.pool.acquire() as conn:
        saga = await saga_repo.for_reservation(conn, rid)
        assert [step for step, _ in await saga_repo.steps(conn, saga.id)] == ["start"]
    await world.audit_clean()


async def test_recovery_leaves_a_prepared_saga_alone_until_its_payment_window_ends(
        world: World) -> None:
    user, rid, _ = await world.reserve("A-1-1")
    await world.pay(user, rid)
    async with world.pool.acquire() as conn:
        assert rid not in [s.reservation_id for s in await saga_repo.due(conn)]
        await conn.execute("UPDATE reservations SET expires_at = now() - interval '1 second' "
                           "WHERE id = $1", rid)
        await conn.execute("UPDATE sagas SET next_attempt_at = now() WHERE reservation_id = $1",
                           rid)
    assert await world.new_saga().recover() >= 1
    assert await world.states(rid) == ("EXPIRED", "ABORTED", "FAILED")
    await world.audit_clean()
