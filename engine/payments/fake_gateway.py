"""A local fake of the Toss Payments API v1, for development and tests.

It speaks the paths, Basic auth, Payment JSON and `{code, message}` errors of the real API, keeps
payments in memory, honours `Idempotency-Key`, and injects faults on request (see
`engine.payments.fake_faults`). Outside /v1 it adds:

- `POST /fake/checkout {orderId, amount, orderName?}` -> `{paymentKey, orderId, amount}`: the
  buyer pays in the payment widget, leaving a READY payment to confirm.
- `POST /fake/faults {operation, action, ...}` adds a fault rule; `DELETE /fake/faults` clears
  them all.

Run it with `python -m engine.payments.fake_gateway --port N --secret-key K`, or in-process with
`FakeGatewayServer`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.local import LOCALHOST
from engine.payments.fake_faults import TIMEOUT_HOLD_S, Fault, Operation
from engine.payments.payment import PaymentStatus

KST = timezone(timedelta(hours=9))

Reply = tuple[int, dict[str, Any]]


@dataclass
class _Payment:
    payment_key: str
    order_id: str
    order_name: str
    total_amount: int
    requested_at: str
    status: PaymentStatus = PaymentStatus.READY
    method: str | None = None
    approved_at: str | None = None
    last_transaction_key: str | None = None
    canceled_amount: int = 0
    cancels: list[dict[str, Any]] = field(default_factory=list)

    @property
    def balance_amount(self) -> int:
        return self.total_amount - self.canceled_amount

    def to_json(self) -> dict[str, Any]:
        vat = round(self.balance_amount / 11)
        return {
            "mId": "tiketi_fake",
            "version": "2022-11-16",
            "paymentKey": self.payment_key,
            "orderId": self.order_id,
            "orderName": self.order_name,
            "type": "NORMAL",
            "status": self.status.value,
            "method": self.method,
            "currency": "KRW",
            "country": "KR",
            "totalAmount": self.total_amount,
            "balanceAmount": self.balance_amount,
            "suppliedAmount": self.balance_amount - vat,
            "vat": vat,
            "taxFreeAmount": 0,
            "taxExemptionAmount": 0,
            "requestedAt": self.requested_at,
            "approvedAt": self.approved_at,
            "lastTransactionKey": self.last_transaction_key,
            "isPartialCancelable": True,
            "useEscrow": False,
            "cultureExpense": False,
            "cancels": list(self.cancels) or None,
            "card": None,
            "easyPay": None,
            "failure": None,
            "receipt": None,
            "secret": None,
        }


def _error(status: int, code: str, message: str) -> Reply:
    return status, {"code": code, "message": message}


def _now() -> str:
    return datetime.now(KST).isoformat(timespec="seconds")


def _transaction_key() -> str:
    return secrets.token_hex(16).upper()


def _cannot_drop(client: object) -> None:
    raise RuntimeError("this server cannot drop connections; run the fake with FakeGatewayServer")


async def _until_disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class FakeGateway:
    """The fake's state and its Starlette app (`.app`). Safe to drive from another thread."""

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.calls: Counter[Operation] = Counter()
        """Requests received per operation (past authentication), faulted ones included."""
        self.drop_connection: Callable[[object], None] = _cannot_drop
        """Closes the connection of the client at the given ASGI `client` address."""
        self._lock = threading.Lock()
        self._payments: dict[str, _Payment] = {}
        self._by_order: dict[str, str] = {}
        self._replies: dict[tuple[Operation, str], Reply] = {}
        self._faults: list[Fault] = []
        self.app = Starlette(
            routes=[
                Route("/v1/payments/confirm", self._confirm, methods=["POST"]),
                Route("/v1/payments/orders/{orderId}", self._get_by_order, methods=["GET"]),
                Route("/v1/payments/{paymentKey}", self._get, methods=["GET"]),
                Route("/v1/payments/{paymentKey}/cancel", self._cancel, methods=["POST"]),
                Route("/fake/checkout", self._checkout, methods=["POST"]),
                Route("/fake/faults", self._faults_endpoint, methods=["POST", "DELETE"]),
            ]
        )

    def checkout(self, order_id: str, amount: int, *, order_name: str = "TIKETI order") -> str:
        """The buyer pays for `order_id`; returns the key of the READY payment."""
        with self._lock:
            previous = self._payments.get(self._by_order.get(order_id, ""))
            if previous is not None and previous.status is not PaymentStatus.READY:
                raise ValueError(f"order {order_id} already has a processed payment")
            payment = _Payment(f"tfk_{secrets.token_hex(16)}", order_id, order_name, amount, _now())
            self._payments[payment.payment_key] = payment
            self._by_order[order_id] = payment.payment_key
            return payment.payment_key

    def payment(self, payment_key: str) -> dict[str, Any] | None:
        with self._lock:
            payment = self._payments.get(payment_key)
            return None if payment is None else payment.to_json()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forgets payments, replies, faults and call counts."""
        with self._lock:
            self._payments.clear()
            self._by_order.clear()
            self._replies.clear()
            self._faults.clear()
            self.calls.clear()

    # Endpoints of the API

    async def _confirm(self, request: Request) -> Response:
        body = await _json_body(request)
        key, order_id = body.get("paymentKey"), body.get("orderId")
        return await self._serve(
            request,
            "confirm",
            order_id if isinstance(order_id, str) else None,
            key if isinstance(key, str) else None,
            partial(self._apply_confirm, body),
        )

    async def _cancel(self, request: Request) -> Response:
        key = request.path_params["paymentKey"]
        body = await _json_body(request)
        return await self._serve(
            request, "cancel", self._order_of(key), key, partial(self._apply_cancel, key, body)
        )

    async def _get(self, request: Request) -> Response:
        key = request.path_params["paymentKey"]
        return await self._serve(
            request, "get", self._order_of(key), key, partial(self._apply_get, key)
        )

    async def _get_by_order(self, request: Request) -> Response:
        order_id = request.path_params["orderId"]
        with self._lock:
            key = self._by_order.get(order_id)
        return await self._serve(
            request, "get_by_order", order_id, key, partial(self._apply_get, key or "")
        )

    async def _serve(
        self,
        request: Request,
        operation: Operation,
        order_id: str | None,
        payment_key: str | None,
        run: Callable[[], Reply],
    ) -> Response:
        if not self._authorized(request):
            return _respond(_error(401, "UNAUTHORIZED_KEY", "unknown secret or client key"))
        idempotency_key = request.headers.get("idempotency-key")
        with self._lock:
            self.calls[operation] += 1
            fault = self._take_fault(operation, order_id, payment_key)

        def apply(*, idempotent: bool = True) -> Reply:
            with self._lock:
                if not (idempotent and idempotency_key):
                    return run()
                replay = (operation, idempotency_key)
                if replay not in self._replies:
                    self._replies[replay] = run()
                return self._replies[replay]

        if fault is None:
            return _respond(apply())
        match fault.action:
            case "error":
                return _respond(_error(fault.status, fault.code, fault.message))
            case "latency":
                await asyncio.sleep(fault.delay_s)
                return _respond(apply())
            case "duplicate":
                apply()
                return _respond(apply(idempotent=False))
            case "malformed":
                apply()
                return Response("<html>upstream hiccup</html>", 200, media_type="text/html")
            case "timeout":
                try:
                    async with asyncio.timeout(fault.delay_s or TIMEOUT_HOLD_S):
                        await _until_disconnected(request)
                except TimeoutError:
                    pass
            case "lost_reply":
                apply()
            case "drop":
                pass
        self.drop_connection(request.scope.get("client"))
        await _until_disconnected(request)
        return Response(status_code=204)  # sent nowhere: the connection is gone

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, colon, _ = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(colon) and hmac.compare_digest(user.encode(), self.secret_key.encode())

    def _take_fault(
        self, operation: Operation, order_id: str | None, payment_key: str | None
    ) -> Fault | None:
        for fault in self._faults:
            if fault.matches(operation, order_id, payment_key):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _order_of(self, payment_key: str) -> str | None:
        with self._lock:
            payment = self._payments.get(payment_key)
            return None if payment is None else payment.order_id

    # The operations themselves; called with the lock held

    def _apply_confirm(self, body: dict[str, Any]) -> Reply:
        key, order_id, amount = body.get("paymentKey"), body.get("orderId"), body.get("amount")
        if not (isinstance(key, str) and isinstance(order_id, str) and type(amount) is int):
            return _error(400, "INVALID_REQUEST", "paymentKey, orderId and amount are required")
        payment = self._payments.get(key)
        if payment is None:
            return _error(404, "NOT_FOUND_PAYMENT", "no such payment")
        if payment.order_id != order_id:
            return _error(404, "NOT_FOUND_PAYMENT_SESSION", "no payment session for this orderId")
        if payment.status is not PaymentStatus.READY:
            return _error(400, "ALREADY_PROCESSED_PAYMENT", "the payment was already processed")
        if amount != payment.total_amount:
            return _error(400, "INVALID_REQUEST", "amount does not match the amount paid")
        payment.status = PaymentStatus.DONE
        payment.method = "카드"
        payment.approved_at = _now()
        payment.last_transaction_key = _transaction_key()
        return 200, payment.to_json()

    def _apply_cancel(self, payment_key: str, body: dict[str, Any]) -> Reply:
        reason, amount = body.get("cancelReason"), body.get("cancelAmount")
        if not isinstance(reason, str) or not (amount is None or type(amount) is int):
            return _error(400, "INVALID_REQUEST", "cancelReason is required")
        payment = self._payments.get(payment_key)
        if payment is None:
            return _error(404, "NOT_FOUND_PAYMENT", "no such payment")
        if payment.status is PaymentStatus.CANCELED:
            return _error(400, "ALREADY_CANCELED_PAYMENT", "the payment was already canceled")
        if payment.status not in (PaymentStatus.DONE, PaymentStatus.PARTIAL_CANCELED):
            return _error(403, "NOT_CANCELABLE_PAYMENT", "the payment cannot be canceled")
        amount = payment.balance_amount if amount is None else amount
        if not 0 < amount <= payment.balance_amount:
            return _error(403, "NOT_CANCELABLE_AMOUNT", "the amount cannot be canceled")
        payment.last_transaction_key = _transaction_key()
        payment.canceled_amount += amount
        payment.cancels.append(
            {
                "cancelAmount": amount,
                "cancelReason": reason,
                "taxFreeAmount": 0,
                "taxExemptionAmount": 0,
                "refundableAmount": payment.balance_amount,
                "easyPayDiscountAmount": 0,
                "canceledAt": _now(),
                "transactionKey": payment.last_transaction_key,
                "receiptKey": None,
                "cancelStatus": "DONE",
                "cancelRequestId": None,
            }
        )
        payment.status = PaymentStatus.PARTIAL_CANCELED
        if payment.balance_amount == 0:
            payment.status = PaymentStatus.CANCELED
        return 200, payment.to_json()

    def _apply_get(self, payment_key: str) -> Reply:
        payment = self._payments.get(payment_key)
        if payment is None:
            return _error(404, "NOT_FOUND_PAYMENT", "no such payment")
        return 200, payment.to_json()

    # Endpoints of the fake

    async def _checkout(self, request: Request) -> Response:
        body = await _json_body(request)
        order_id, amount = body.get("orderId"), body.get("amount")
        order_name = body.get("orderName", "TIKETI order")
        if not (isinstance(order_id, str) and type(amount) is int and isinstance(order_name, str)):
            return _respond(_error(400, "INVALID_REQUEST", "orderId and amount are required"))
        try:
            key = self.checkout(order_id, amount, order_name=order_name)
        except ValueError as error:
            return _respond(_error(400, "DUPLICATED_ORDER_ID", str(error)))
        return JSONResponse({"paymentKey": key, "orderId": order_id, "amount": amount})

    async def _faults_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
            return Response(status_code=204)
        try:
            fault = Fault.from_json(await request.json())
        except ValueError as error:
            return _respond(_error(400, "INVALID_REQUEST", str(error)))
        self.add_fault(fault)
        return Response(status_code=201)


def _respond(reply: Reply) -> Response:
    status, body = reply
    return JSONResponse(body, status_code=status)


class FakeGatewayServer:
    """Serves a `FakeGateway` with uvicorn on a background thread: `with FakeGatewayServer(k) as
    server: ... server.url ... server.gateway.add_fault(...)`."""

    def __init__(self, secret_key: str, *, host: str = LOCALHOST, port: int = 0) -> None:
        self.gateway = FakeGateway(secret_key)
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def start(self, timeout: float = 10.0) -> None:
        sock = _listening_socket(self._host, self._port)
        self._port = sock.getsockname()[1]
        self._server = _uvicorn_server(self.gateway)
        self._thread = threading.Thread(
            target=self._server.run, args=([sock],), name="fake-toss-gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the fake gateway did not start on {self.url}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeGatewayServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _listening_socket(host: str, port: int) -> socket.socket:
    # Bound here rather than by uvicorn, so that a port of 0 is known before the server starts.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _uvicorn_server(gateway: FakeGateway) -> uvicorn.Server:
    config = uvicorn.Config(
        gateway.app,
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        # Longer than clients keep idle connections (uvicorn's 5 s default races their reuse).
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)
    gateway.drop_connection = partial(_close_connection, server)
    return server


def _close_connection(server: uvicorn.Server, client: object) -> None:
    # An ASGI app cannot close its connection without a reply; uvicorn's own transports can.
    for connection in list(server.server_state.connections):
        if getattr(connection, "client", None) == client:
            connection.transport.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m engine.payments.fake_gateway",
        description="A local fake of the Toss Payments API v1.",
    )
    parser.add_argument("--host", default=LOCALHOST)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--secret-key", required=True, help="the secret key clients must send")
    args = parser.parse_args(argv)
    gateway = FakeGateway(args.secret_key)
    sock = _listening_socket(args.host, args.port)
    port = sock.getsockname()[1]
    print(f"fake Toss Payments gateway listening on http://{args.host}:{port}", flush=True)
    _uvicorn_server(gateway).run([sock])


if __name__ == "__main__":
    main()
