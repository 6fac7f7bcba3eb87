"""The Toss Payments client against the fake gateway, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest

from engine.core.clock import ManualClock
from engine.payments import (
    AlreadyProcessed,
    BreakerOpen,
    BreakerState,
    CircuitBreaker,
    GatewayRefused,
    GatewayUnknownOutcome,
    PaymentStatus,
    TossPaymentsClient,
)
from engine.payments.fake_faults import Fault
from engine.payments.fake_gateway import FakeGateway, FakeGatewayServer

SECRET_KEY = "test_sk_fake_gateway"
TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGatewayServer]:
    with FakeGatewayServer(SECRET_KEY) as running:
        yield running


@pytest.fixture
def gateway(server: FakeGatewayServer) -> FakeGateway:
    server.gateway.reset()
    return server.gateway


@pytest.fixture
def sleeps() -> list[float]:
    return []


ClientFactory = Callable[..., Awaitable[TossPaymentsClient]]


@pytest.fixture
async def make_client(
    server: FakeGatewayServer, gateway: FakeGateway, sleeps: list[float]
) -> AsyncIterator[ClientFactory]:
    clients: list[TossPaymentsClient] = []

    async def record_sleep(delay: float) -> None:
        sleeps.append(delay)

    async def make(
        *,
        secret_key: str = SECRET_KEY,
        max_retries: int = 2,
        breaker: CircuitBreaker | None = None,
    ) -> TossPaymentsClient:
        client = TossPaymentsClient(
            server.url,
            secret_key,
            timeout_s=TIMEOUT_S,
            max_retries=max_retries,
            backoff_s=0.1,
            breaker=breaker,
            sleep=record_sleep,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: ClientFactory) -> TossPaymentsClient:
    return await make_client()


def checkout(gateway: FakeGateway, order_id: str = "order-1", amount: int = 50_000) -> str:
    return gateway.checkout(order_id, amount)


def status_of(gateway: FakeGateway, payment_key: str) -> str:
    payment = gateway.payment(payment_key)
    assert payment is not None
    return str(payment["status"])


# The API without faults


async def test_confirm_approves_a_payment_checked_out_over_http(
    server: FakeGatewayServer, client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        reply = await http.post("/fake/checkout", json={"orderId": "order-1", "amount": 50_000})
    key = reply.json()["paymentKey"]
    assert status_of(gateway, key) == "READY"

    payment = await client.confirm(key, "order-1", 50_000)

    assert (payment.payment_key, payment.order_id) == (key, "order-1")
    assert payment.status is PaymentStatus.DONE
    assert (payment.total_amount, payment.balance_amount) == (50_000, 50_000)
    assert payment.approved_at is not None and payment.method is not None
    assert payment.raw["paymentKey"] == key
    assert status_of(gateway, key) == "DONE"


async def test_get_and_get_by_order_return_the_payment(
    client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    confirmed = await client.confirm(key, "order-1", 50_000)

    assert await client.get_payment(key) == confirmed
    assert await client.get_payment_by_order("order-1") == confirmed


async def test_cancel_refunds_the_whole_balance(
    client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    await client.confirm(key, "order-1", 50_000)

    payment = await client.cancel(key, "seats could not be sold")

    assert payment.status is PaymentStatus.CANCELED
    assert payment.balance_amount == 0
    [cancel] = payment.cancels
    assert (cancel.cancel_amount, cancel.reason) == (50_000, "seats could not be sold")
    assert cancel.transaction_key and cancel.canceled_at
    with pytest.raises(GatewayRefused) as refused:
        await client.cancel(key, "again")
    assert refused.value.code == "ALREADY_CANCELED_PAYMENT"


async def test_partial_cancels_reduce_the_balance(
    client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    await client.confirm(key, "order-1", 50_000)

    first = await client.cancel(key, "one seat", amount=20_000)
    assert first.status is PaymentStatus.PARTIAL_CANCELED
    assert first.balance_amount == 30_000
    with pytest.raises(GatewayRefused) as refused:
        await client.cancel(key, "too much", amount=30_001)
    assert refused.value.code == "NOT_CANCELABLE_AMOUNT"
    second = await client.cancel(key, "the rest", amount=30_000)
    assert second.status is PaymentStatus.CANCELED
    assert [cancel.cancel_amount for cancel in second.cancels] == [20_000, 30_000]


async def test_the_same_idempotency_key_cancels_once(
    client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    await client.confirm(key, "order-1", 50_000)

    first = await client.cancel(key, "one seat", amount=10_000, idempotency_key="cancel-1")
    again = await client.cancel(key, "one seat", amount=10_000, idempotency_key="cancel-1")

    assert again == first
    assert (await client.get_payment(key)).balance_amount == 40_000


# Definitive refusals: raised at once, never retried


async def test_refusals_are_not_retried(
    client: TossPaymentsClient, gateway: FakeGateway, sleeps: list[float]
) -> None:
    key = checkout(gateway)

    with pytest.raises(GatewayRefused) as wrong_amount:
        await client.confirm(key, "order-1", 1)
    with pytest.raises(GatewayRefused) as unknown_key:
        await client.confirm("no-such-key", "order-1", 50_000)
    with pytest.raises(GatewayRefused) as no_order:
        await client.get_payment_by_order("no-such-order")

    assert (wrong_amount.value.code, wrong_amount.value.http_status) == ("INVALID_REQUEST", 400)
    assert (unknown_key.value.code, unknown_key.value.http_status) == ("NOT_FOUND_PAYMENT", 404)
    assert no_order.value.code == "NOT_FOUND_PAYMENT"
    assert gateway.calls == {"confirm": 2, "get_by_order": 1}
    assert sleeps == []
    assert status_of(gateway, key) == "READY"


async def test_confirming_twice_reports_already_processed(
    client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    await client.confirm(key, "order-1", 50_000)

    with pytest.raises(AlreadyProcessed) as again:
        await client.confirm(key, "order-1", 50_000)
    assert again.value.code == "ALREADY_PROCESSED_PAYMENT"


async def test_a_wrong_secret_key_is_refused(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    client = await make_client(secret_key="test_sk_wrong")
    with pytest.raises(GatewayRefused) as refused:
        await client.get_payment(checkout(gateway))
    assert (refused.value.code, refused.value.http_status) == ("UNAUTHORIZED_KEY", 401)


# Faults


async def test_an_injected_card_rejection_is_a_refusal_for_that_order_only(
    server: FakeGatewayServer, client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    rejected, accepted = checkout(gateway, "order-1"), checkout(gateway, "order-2")
    rule = {"operation": "confirm", "action": "error", "orderId": "order-1", "times": None,
            "code": "REJECT_CARD_COMPANY", "status": 403}
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.post("/fake/faults", json=rule)).status_code == 201

    with pytest.raises(GatewayRefused) as refused:
        await client.confirm(rejected, "order-1", 50_000)
    assert (refused.value.code, refused.value.http_status) == ("REJECT_CARD_COMPANY", 403)
    assert (await client.confirm(accepted, "order-2", 50_000)).status is PaymentStatus.DONE
    assert status_of(gateway, rejected) == "READY"
    assert gateway.calls["confirm"] == 2

    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.delete("/fake/faults")).status_code == 204
    assert (await client.confirm(rejected, "order-1", 50_000)).status is PaymentStatus.DONE


async def test_the_fault_endpoint_rejects_unknown_rules(server: FakeGatewayServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        reply = await http.post("/fake/faults", json={"operation": "confirm", "action": "explode"})
    assert reply.status_code == 400
    assert reply.json()["code"] == "INVALID_REQUEST"


async def test_a_gateway_failure_is_retried_with_backoff_until_it_succeeds(
    client: TossPaymentsClient, gateway: FakeGateway, sleeps: list[float]
) -> None:
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "error", code="PROVIDER_ERROR", status=400, times=2))

    payment = await client.confirm(key, "order-1", 50_000)

    assert payment.status is PaymentStatus.DONE
    assert gateway.calls["confirm"] == 3
    assert sleeps == [0.1, 0.2]


async def test_retries_stop_at_the_bound(
    client: TossPaymentsClient, gateway: FakeGateway, sleeps: list[float]
) -> None:
    gateway.add_fault(
        Fault("get", "error", code="FAILED_INTERNAL_SYSTEM_PROCESSING", status=500, times=None)
    )

    with pytest.raises(GatewayUnknownOutcome) as unknown:
        await client.get_payment(checkout(gateway))

    assert (unknown.value.code, unknown.value.http_status) == (
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        500,
    )
    assert gateway.calls["get"] == 3
    assert sleeps == [0.1, 0.2]


async def test_latency_under_the_timeout_is_only_slow(
    client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "latency", delay_s=0.25))

    started = time.monotonic()
    payment = await client.confirm(key, "order-1", 50_000)

    assert time.monotonic() - started >= 0.25
    assert payment.status is PaymentStatus.DONE
    assert gateway.calls["confirm"] == 1


async def test_a_timeout_is_an_unknown_outcome(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    client = await make_client(max_retries=0)
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "timeout"))

    started = time.monotonic()
    with pytest.raises(GatewayUnknownOutcome) as unknown:
        await client.confirm(key, "order-1", 50_000)

    assert unknown.value.code == "TIMEOUT"
    assert TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 1.0
    assert status_of(gateway, key) == "READY"


async def test_a_dropped_connection_is_a_transport_error(
    server: FakeGatewayServer, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    gateway.add_fault(Fault("get", "drop"))
    async with httpx.AsyncClient(base_url=server.url, auth=(SECRET_KEY, "")) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.get(f"/v1/payments/{key}")
        assert (await http.get(f"/v1/payments/{key}")).status_code == 200


async def test_a_dropped_connection_is_an_unknown_outcome(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    client = await make_client(max_retries=0)
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "drop"))

    with pytest.raises(GatewayUnknownOutcome) as unknown:
        await client.confirm(key, "order-1", 50_000)

    assert unknown.value.code == "CONNECTION_LOST"
    assert unknown.value.http_status is None
    assert status_of(gateway, key) == "READY"


async def test_a_malformed_reply_is_an_unknown_outcome(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    client = await make_client(max_retries=0)
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "malformed"))

    with pytest.raises(GatewayUnknownOutcome) as unknown:
        await client.confirm(key, "order-1", 50_000)

    assert unknown.value.code == "MALFORMED_REPLY"
    assert status_of(gateway, key) == "DONE"


async def test_a_duplicated_confirm_sees_its_own_approval(
    client: TossPaymentsClient, gateway: FakeGateway
) -> None:
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "duplicate"))

    with pytest.raises(AlreadyProcessed):
        await client.confirm(key, "order-1", 50_000)

    assert (await client.get_payment(key)).status is PaymentStatus.DONE


async def test_an_approval_whose_reply_was_lost_shows_up_by_order(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    client = await make_client(max_retries=0)
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "lost_reply"))

    with pytest.raises(GatewayUnknownOutcome) as unknown:
        await client.confirm(key, "order-1", 50_000)

    assert unknown.value.code == "CONNECTION_LOST"
    found = await client.get_payment_by_order("order-1")
    assert (found.payment_key, found.status) == (key, PaymentStatus.DONE)


async def test_a_retry_after_a_lost_reply_gets_the_original_approval(
    client: TossPaymentsClient, gateway: FakeGateway, sleeps: list[float]
) -> None:
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "lost_reply"))

    # The retry carries the same Idempotency-Key, so it is answered, not ALREADY_PROCESSED.
    payment = await client.confirm(key, "order-1", 50_000)

    assert payment.status is PaymentStatus.DONE
    assert gateway.calls["confirm"] == 2
    assert sleeps == [0.1]


# The circuit breaker


async def test_the_breaker_opens_on_unknown_outcomes_then_half_opens(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=30.0, clock=clock.now)
    client = await make_client(max_retries=0, breaker=breaker)
    key = checkout(gateway)
    gateway.add_fault(Fault("get", "error", code="PROVIDER_ERROR", status=500, times=None))

    for _ in range(2):
        with pytest.raises(GatewayUnknownOutcome):
            await client.get_payment(key)
    assert breaker.state is BreakerState.OPEN

    with pytest.raises(BreakerOpen) as refused:
        await client.get_payment(key)
    assert refused.value.retry_after_s == pytest.approx(30.0)
    assert gateway.calls["get"] == 2

    clock.advance(30.0)
    assert breaker.state is BreakerState.HALF_OPEN
    gateway.clear_faults()
    assert (await client.get_payment(key)).payment_key == key
    assert breaker.state is BreakerState.CLOSED


async def test_the_breaker_ignores_definitive_refusals(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=ManualClock().now)
    client = await make_client(breaker=breaker)
    key = checkout(gateway)
    gateway.add_fault(
        Fault("confirm", "error", code="REJECT_CARD_COMPANY", status=403, times=None)
    )

    for _ in range(3):
        with pytest.raises(GatewayRefused):
            await client.confirm(key, "order-1", 50_000)

    assert breaker.state is BreakerState.CLOSED
    assert gateway.calls["confirm"] == 3


async def test_a_breaker_opening_mid_retries_still_reports_the_unknown_outcome(
    make_client: ClientFactory, gateway: FakeGateway
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=ManualClock().now)
    client = await make_client(breaker=breaker)
    key = checkout(gateway)
    gateway.add_fault(Fault("confirm", "lost_reply"))

    with pytest.raises(GatewayUnknownOutcome) as unknown:
        await client.confirm(key, "order-1", 50_000)

    assert isinstance(unknown.value.__cause__, BreakerOpen)
    assert gateway.calls["confirm"] == 1
    assert status_of(gateway, key) == "DONE"
