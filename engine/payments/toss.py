"""An async client for the Toss Payments API v1: confirm, cancel and look up payments.

Every call here is idempotent (a GET, or a POST carrying an `Idempotency-Key`), so a call whose
outcome is unknown is retried, a bounded number of times with exponential backoff; a definitive
answer is never retried. Errors are sorted as in `engine.payments.errors`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from engine.payments.breaker import BreakerOpen, CircuitBreaker
from engine.payments.errors import GatewayUnknownOutcome, error_for
from engine.payments.payment import Payment, parse_payment

TOSS_API_URL = "https://api.tosspayments.com"

Sleep = Callable[[float], Awaitable[None]]


class TossPaymentsClient:
    def __init__(
        self,
        base_url: str,
        secret_key: str,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 2,
        backoff_s: float = 0.2,
        max_backoff_s: float = 2.0,
        breaker: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            auth=httpx.BasicAuth(secret_key, ""),
            timeout=timeout_s,
            transport=transport,
        )
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._breaker = breaker
        self._sleep = sleep

    async def confirm(
        self, payment_key: str, order_id: str, amount: int, *, idempotency_key: str | None = None
    ) -> Payment:
        """Approves a payment the buyer authorised. Pass a stable `idempotency_key` (the saga's
        id, say) to stay idempotent across process restarts too."""
        body = {"paymentKey": payment_key, "orderId": order_id, "amount": amount}
        return await self._call("POST", "/v1/payments/confirm", body, idempotency_key)

    async def cancel(
        self,
        payment_key: str,
        reason: str,
        *,
        amount: int | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Cancels the whole balance, or `amount` of it."""
        body: dict[str, Any] = {"cancelReason": reason}
        if amount is not None:
            body["cancelAmount"] = amount
        path = f"/v1/payments/{quote(payment_key, safe='')}/cancel"
        return await self._call("POST", path, body, idempotency_key)

    async def get_payment(self, payment_key: str) -> Payment:
        return await self._call("GET", f"/v1/payments/{quote(payment_key, safe='')}")

    async def get_payment_by_order(self, order_id: str) -> Payment:
        return await self._call("GET", f"/v1/payments/orders/{quote(order_id, safe='')}")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> TossPaymentsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        headers = {}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())

        async def attempt() -> Payment:
            return await self._request(method, path, body, headers)

        unknown: GatewayUnknownOutcome | None = None
        for retry in range(self._max_retries + 1):
            if retry:
                await self._sleep(min(self._max_backoff_s, self._backoff_s * 2 ** (retry - 1)))
            try:
                if self._breaker is None:
                    return await attempt()
                return await self._breaker.call(attempt, is_failure=_is_failure)
            except GatewayUnknownOutcome as error:
                unknown = error
            except BreakerOpen as refusal:
                if unknown is None:
                    raise
                # An earlier attempt may have gone through: that is what the caller must know.
                raise unknown from refusal
        assert unknown is not None
        raise unknown

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> Payment:
        try:
            reply = await self._http.request(method, path, json=body, headers=headers)
        except httpx.TimeoutException as error:
            raise GatewayUnknownOutcome("TIMEOUT", repr(error)) from error
        except httpx.TransportError as error:
            raise GatewayUnknownOutcome("CONNECTION_LOST", repr(error)) from error
        except httpx.RequestError as error:
            raise GatewayUnknownOutcome("MALFORMED_REPLY", repr(error)) from error
        try:
            data = reply.json()
        except ValueError:
            data = None
        if reply.is_success:
            try:
                return parse_payment(data)
            except ValueError as error:
                raise _malformed(reply) from error
        if (
            isinstance(data, dict)
            and isinstance(data.get("code"), str)
            and isinstance(data.get("message"), str)
        ):
            raise error_for(data["code"], data["message"], reply.status_code)
        raise _malformed(reply)


def _is_failure(error: BaseException) -> bool:
    return isinstance(error, GatewayUnknownOutcome)


def _malformed(reply: httpx.Response) -> GatewayUnknownOutcome:
    return GatewayUnknownOutcome("MALFORMED_REPLY", reply.text[:200], reply.status_code)
