"""Payments over real HTTP through Ray Serve, against the fake gateway: a purchase from hold
to sale, idempotent POSTs, a refund, the outbox reaching its consumers, a gateway outage
(circuit breaker: new reservations refused with 503, holds released), and many buyers racing
for the same seats. `tiketi audit` passes after each."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import ray

from engine.audit.command import run_audit
from engine.payments.fake_faults import Fault
from engine.store.pool import connect
from tests.e2e.client import Client, small_event
from tests.e2e.conftest import Engine
from tests.e2e.test_api_journey import admin, admitted, buyer, event

__all__ = ["admin", "buyer", "event"]


async def _hold(client: Client, event_id: str, **lock: Any) -> dict[str, Any]:
    status = await admitted(client, event_id)
    r = await client.post("/api/v1/seats/lock", json={"eventId": event_id, **lock},
                          headers={"X-Event-Access-Token": status["accessToken"]})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _reserve(client: Client, event_id: str, **lock: Any) -> dict[str, Any]:
    hold = await _hold(client, event_id, **lock)
    r = await client.post("/api/v1/reservations",
                          json={"eventId": event_id, "holdId": hold["holdId"]})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _seat_states(client: Client, event_id: str, ok: Callable[[str], bool]) -> str:
    """The layout's seat statuses once `ok` holds (they refresh every second)."""
    states = ""
    for _ in range(20):
        r = await client.get(f"/api/v1/seats/events/{event_id}", params={"view": "status"})
        states = r.json()["status"]
        if ok(states):
            return states
        await asyncio.sleep(0.25)
    raise AssertionError(f"the seat statuses never got there: {states}")


async def _audit(engine: Engine, event_id: str) -> None:
    result = await run_audit(engine.database_url, engine.redis_url, engine.settings.namespace,
                             uuid.UUID(event_id))
    assert result.ok, result.violations


async def test_a_purchase_over_http(buyer: Client, event: dict[str, Any], engine: Engine,
                                    admin: Client) -> None:
    event_id = event["id"]
    reservation = await _reserve(buyer, event_id, count=2, section="A")
    rid = reservation["id"]

    prepare = {"reservationId": rid}
    r = await buyer.post("/api/v1/payments/prepare", json=prepare,
                         headers={"Idempotency-Key": "p1"})
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["orderId"] == rid and payment["amount"] == reservation["totalAmount"]
    again = await buyer.post("/api/v1/payments/prepare", json=prepare,
                             headers={"Idempotency-Key": "p1"})
    assert again.status_code == 201 and again.json() == payment
    assert again.headers.get("idempotent-replayed") == "true"
    other = await buyer.post("/api/v1/payments/prepare", json={"reservationId": str(uuid.uuid4())},
                             headers={"Idempotency-Key": "p1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"

    key = engine.gateway.gateway.checkout(rid, payment["amount"])
    wrong = await buyer.post("/api/v1/payments/confirm", json={
        "paymentKey": key, "orderId": rid, "amount": payment["amount"] + 1})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "AMOUNT_MISMATCH"
    bad = await buyer.post("/api/v1/payments/confirm", json={"paymentKey": key, "orderId": rid})
    assert bad.status_code in (400, 422)
    r = await buyer.post("/api/v1/payments/confirm", json={
        "paymentKey": key, "orderId": rid, "amount": payment["amount"]},
        headers={"Idempotency-Key": "c1"})
    assert r.status_code == 200, r.text
    assert r.json()["reservationStatus"] == "CONFIRMED"
    assert r.json()["payment"]["status"] == "DONE"

    status = await buyer.get(f"/api/v1/payments/{payment['paymentId']}/status")
    assert status.status_code == 200 and status.json()["sagaState"] == "COMPLETED"
    stranger = Client(str(buyer.http.base_url))
    try:
        await stranger.register("Stranger")
        hidden = await stranger.get(f"/api/v1/payments/{payment['paymentId']}/status")
        assert hidden.status_code == 404
    finally:
        await stranger.close()
    await _seat_states(buyer, event_id, lambda states: states.count("2") == 2)
    await _audit(engine, event_id)

    # The outbox reaches the dashboard figures (relayed to the stream, counted once).
    figures = None
    conn = await connect(engine.database_url)
    try:
        for _ in range(60):
            figures = await conn.fetchrow(
                "SELECT * FROM event_figures WHERE event_id = $1", uuid.UUID(event_id))
            if figures is not None and figures["payments_completed"] == 1:
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    assert figures is not None and figures["payments_completed"] == 1
    assert figures["revenue"] == payment["amount"] and figures["reservations_created"] == 1
    stats = await admin.get("/api/v1/admin/dashboard/stats", params={"eventId": event_id})
    assert stats.status_code == 200, stats.text
    shown = stats.json()["items"][0]["figures"]
    assert (shown["paymentsCompleted"], shown["revenue"]) == (1, payment["amount"])

    refund = await buyer.post("/api/v1/payments/cancel",
                              json={"orderId": rid, "cancelReason": "cannot come"})
    assert refund.status_code == 200, refund.text
    assert refund.json()["reservationStatus"] == "CANCELLED"
    assert refund.json()["payment"]["status"] == "CANCELED"
    await _seat_states(buyer, event_id, lambda states: "2" not in states)
    await _audit(engine, event_id)


@pytest.fixture
async def outage(engine: Engine) -> AsyncIterator[None]:
    """The gateway drops every call until the test ends."""
    for op in ("confirm", "cancel", "get", "get_by_order"):
        engine.gateway.gateway.add_fault(Fault(op, "drop", times=None))
    yield
    engine.gateway.gateway.clear_faults()


async def test_while_the_gateway_is_down_new_reservations_are_refused_and_holds_released(
        api: str, admin: Client, engine: Engine, outage: None) -> None:
    r = await admin.post("/api/v1/admin/events", json=small_event(title="Outage"))
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    buyers = [Client(api) for _ in range(2)]
    try:
        for b in buyers:
            await b.register("Unlucky")
        first, second = buyers
        reservation = await _reserve(first, event_id, count=1, section="A")
        prepared = await first.post("/api/v1/payments/prepare",
                                    json={"reservationId": reservation["id"]})
        assert prepared.status_code == 201, prepared.text
        amount = prepared.json()["amount"]
        key = engine.gateway.gateway.checkout(reservation["id"], amount)
        refused = None
        for _ in range(20):  # each confirm fails at the gateway until the breaker opens
            refused = await first.post("/api/v1/payments/confirm", json={
                "paymentKey": key, "orderId": reservation["id"], "amount": amount})
            assert refused.status_code in (409, 503), refused.text
            hold = await _hold(second, event_id, count=1, section="B")
            attempt = await second.post("/api/v1/reservations",
                                        json={"eventId": event_id, "holdId": hold["holdId"]})
            if attempt.status_code == 503:
                assert attempt.json()["error"]["code"] == "PAYMENTS_UNAVAILABLE"
                break
            assert attempt.status_code == 201, attempt.text
            await second.post(f"/api/v1/reservations/{attempt.json()['id']}/cancel")
            await asyncio.sleep(0.5)  # replicas report an open breaker every second
        else:
            raise AssertionError(f"the breaker never opened: {refused and refused.text}")
        # Only the first buyer's seat is held: the refused buyer's hold was released.
        await _seat_states(second, event_id, lambda states: states.count("1") <= 1)
    finally:
        for b in buyers:
            await b.close()
    engine.gateway.gateway.clear_faults()
    # Once the gateway is back, recovery settles the first buyer's purchase either way.
    for _ in range(120):
        status = await first_status(api, buyers[0], reservation["id"])
        if status in ("COMPLETED", "FAILED"):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"the saga never settled: {status}")
    await _audit(engine, event_id)


async def first_status(api: str, client: Client, order_id: str) -> str | None:
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        r = await http.get(f"/api/v1/payments/{order_id}/status", headers=client.auth())
    return r.json().get("sagaState") if r.status_code == 200 else None


async def test_many_buyers_racing_for_the_same_seats(api: str, admin: Client,
                                                     engine: Engine) -> None:
    r = await admin.post("/api/v1/admin/events", json=small_event(title="Race"))
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    wanted = ["A-1-1", "A-1-2"]

    async def race(n: int) -> str:
        client = Client(api)
        try:
            await client.register(f"Racer{n}")
            status = await admitted(client, event_id)
            lock = await client.post("/api/v1/seats/lock",
                                     json={"eventId": event_id, "seatIds": wanted},
                                     headers={"X-Event-Access-Token": status["accessToken"]})
            if lock.status_code == 409:
                return "lost at the lock"
            assert lock.status_code == 201, lock.text
            reserved = await client.post("/api/v1/reservations", json={
                "eventId": event_id, "holdId": lock.json()["holdId"]})
            assert reserved.status_code == 201, reserved.text
            rid = reserved.json()["id"]
            prepared = await client.post("/api/v1/payments/prepare", json={"reservationId": rid})
            amount = prepared.json()["amount"]
            key = engine.gateway.gateway.checkout(rid, amount)
            confirmed = await client.post("/api/v1/payments/confirm", json={
                "paymentKey": key, "orderId": rid, "amount": amount})
            return "bought" if confirmed.status_code == 200 else f"failed {confirmed.text}"
        finally:
            await client.close()

    outcomes = await asyncio.gather(*(race(n) for n in range(8)))
    assert outcomes.count("bought") == 1, outcomes
    assert outcomes.count("lost at the lock") == 7, outcomes
    await _audit(engine, event_id)


def _payments_replica() -> Any:
    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("SERVE_REPLICA::payments#")]
    assert len(names) == 1, names
    return ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])


async def test_a_payment_replica_killed_mid_purchase_is_finished_by_its_successor(
        buyer: Client, event: dict[str, Any], engine: Engine) -> None:
    event_id = event["id"]
    reservation = await _reserve(buyer, event_id, count=1, section="A")
    rid = reservation["id"]
    prepared = await buyer.post("/api/v1/payments/prepare", json={"reservationId": rid})
    assert prepared.status_code == 201, prepared.text
    amount = prepared.json()["amount"]
    key = engine.gateway.gateway.checkout(rid, amount)
    # The gateway takes its time approving, and the replica dies while it waits.
    engine.gateway.gateway.add_fault(Fault("confirm", "latency", order_id=rid, delay_s=1.5))
    confirm = asyncio.create_task(buyer.post("/api/v1/payments/confirm", json={
        "paymentKey": key, "orderId": rid, "amount": amount}))
    await asyncio.sleep(0.7)
    ray.kill(_payments_replica(), no_restart=True)
    with contextlib.suppress(httpx.HTTPError):
        died = await confirm
        assert died.status_code >= 500 or died.json()["reservationStatus"] == "CONFIRMED"
    # Serve starts a new replica; its recovery worker finds the saga and finishes it.
    state = None
    for _ in range(240):
        state = await first_status(str(buyer.http.base_url), buyer, rid)
        if state in ("COMPLETED", "FAILED"):
            break
        await asyncio.sleep(0.5)
    assert state == "COMPLETED"
    charged = engine.gateway.gateway.payment(key)
    assert charged is not None and charged["status"] == "DONE"
    await _audit(engine, event_id)
