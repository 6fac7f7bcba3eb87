"""Locust scenarios against the TIKETI API (run them with `python -m loadtest.run`, which sets
the environment below, creates the event and ends with `tiketi audit`).

- `FlashSaleBuyer`: a pre-provisioned buyer joins the queue at sale opening, follows their
  place by status polling, locks the best 1–4 seats once admitted, reserves, pays through the
  (fake) gateway and confirms; then leaves.
- `Browser`: event list, event detail, seat map. `Admin`: the dashboard.
- `mixed`: the seed's peak mix by weight — events 42 %, queue 33 %, reservations 17 %,
  payments 4 %, auth 2 %, admin < 1 % (`QueueWatcher`, `Reserver`, `AuthUser` below).

409 (sold out, seat taken) and 429 (rate limited) are intended answers under contention: they
are reported under their own names ("... [409]") and are not failures. Every other non-2xx is.

Environment: TIKETI_LOAD_EVENT (event id), TIKETI_LOAD_BUYERS (provisioned buyers, JSON),
TIKETI_LOAD_GATEWAY (fake gateway URL), TIKETI_LOAD_ADMIN_EMAIL / _PASSWORD."""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
from pathlib import Path
from typing import Any

from locust import between, constant, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

INTENDED = (409, 429)
POLL_EVERY_S = 2.0

EVENT = os.environ.get("TIKETI_LOAD_EVENT", "")
GATEWAY = os.environ.get("TIKETI_LOAD_GATEWAY", "http://127.0.0.1:8100")
_buyers_file = os.environ.get("TIKETI_LOAD_BUYERS")
BUYERS: list[dict[str, str]] = json.loads(Path(_buyers_file).read_text()) if _buyers_file else []
_next_buyer = itertools.count()
_lock = threading.Lock()


def next_buyer() -> dict[str, str]:
    with _lock:
        n = next(_next_buyer)
    if not BUYERS:
        raise RuntimeError("no provisioned buyers (TIKETI_LOAD_BUYERS)")
    return BUYERS[n % len(BUYERS)]


class Api(FastHttpUser):
    abstract = True
    buyer: dict[str, str]

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.buyer['token']}",
                "X-Forwarded-For": self.ip, **extra}

    def on_start(self) -> None:
        self.buyer = next_buyer()
        self.ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"

    def call(self, method: str, path: str, name: str, **kw: Any) -> tuple[int, Any]:
        """One request; 2xx and the intended statuses succeed, anything else fails."""
        kw.setdefault("headers", self.headers())
        with self.client.request(method, path, name=name, catch_response=True, **kw) as r:
            status = r.status_code
            try:
                body = r.json() if r.text else None
            except ValueError:
                body = None
            if 200 <= status < 300:
                r.success()
            elif status in INTENDED:
                r.request_meta["name"] = f"{name} [{status}]"
                r.success()
            else:
                r.failure(f"{status}: {(r.text or '')[:200]}")
            return status, body


class FlashSaleBuyer(Api):
    """One purchase attempt per simulated user, then it stops."""

    wait_time = constant(0)

    @task
    def buy(self) -> None:
        status, body = self.call("POST", f"/api/v1/queue/join/{EVENT}", "queue join")
        if status != 200:
            return self._done()
        while not body.get("admitted"):
            if body.get("state") not in ("waiting", "prequeue", "admitted"):
                return self._done()  # dropped or closed
            self._sleep(POLL_EVERY_S)
            status, polled = self.call("GET", f"/api/v1/queue/status/{EVENT}", "queue status",
                                       params={"ticket": body.get("ticket") or ""})
            if status == 200:
                body = polled
        access = {"X-Event-Access-Token": body["accessToken"]}
        status, hold = self.call("POST", "/api/v1/seats/lock", "seats lock",
                                 json={"eventId": EVENT, "count": random.randint(1, 4)},
                                 headers=self.headers(**access))
        if status != 201:
            return self._done()
        status, reservation = self.call("POST", "/api/v1/reservations", "reservations create",
                                        json={"eventId": EVENT, "holdId": hold["holdId"]})
        if status != 201:
            return self._done()
        self.pay(reservation["id"])
        self._done()

    def pay(self, reservation_id: str) -> None:
        key = f"load-{reservation_id}"
        status, payment = self.call("POST", "/api/v1/payments/prepare", "payments prepare",
                                    json={"reservationId": reservation_id},
                                    headers=self.headers(**{"Idempotency-Key": f"p-{key}"}))
        if status != 201:
            return
        with self.client.request("POST", f"{GATEWAY}/fake/checkout", name="gateway checkout",
                                 json={"orderId": reservation_id, "amount": payment["amount"]},
                                 catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text}")
                return
            payment_key = r.json()["paymentKey"]
        self.call("POST", "/api/v1/payments/confirm", "payments confirm",
                  json={"paymentKey": payment_key, "orderId": reservation_id,
                        "amount": payment["amount"]},
                  headers=self.headers(**{"Idempotency-Key": f"c-{key}"}))

    def _sleep(self, seconds: float) -> None:
        import gevent

        gevent.sleep(seconds)

    def _done(self) -> None:
        raise StopUser()


class Browser(Api):
    wait_time = between(1, 3)

    @task(5)
    def events(self) -> None:
        self.call("GET", "/api/v1/events", "events list",
                  params={"status": random.choice(["on_sale", "upcoming"]), "pageSize": 20})

    @task(3)
    def detail(self) -> None:
        self.call("GET", f"/api/v1/events/{EVENT}", "event detail")

    @task(2)
    def seat_map(self) -> None:
        self.call("GET", f"/api/v1/seats/events/{EVENT}", "seat map status",
                  params={"view": "status"})


class Admin(Api):
    wait_time = between(2, 5)

    def on_start(self) -> None:
        super().on_start()
        status, body = self.call("POST", "/api/v1/auth/login", "admin login", json={
            "email": os.environ.get("TIKETI_LOAD_ADMIN_EMAIL", "admin@tiketi.local"),
            "password": os.environ.get("TIKETI_LOAD_ADMIN_PASSWORD", "")},
            headers={"X-Forwarded-For": self.ip})
        if status == 200:
            self.buyer = {**self.buyer, "token": body["accessToken"]}

    @task
    def dashboard(self) -> None:
        self.call("GET", "/api/v1/admin/dashboard/stats", "admin dashboard",
                  params={"eventId": EVENT})


class QueueWatcher(Api):
    """Queue traffic of the mix: joins, then polls its place every two seconds."""

    wait_time = constant(POLL_EVERY_S)

    def on_start(self) -> None:
        super().on_start()
        self.ticket = ""
        status, body = self.call("POST", f"/api/v1/queue/join/{EVENT}", "queue join")
        if status == 200:
            self.ticket = body.get("ticket") or ""

    @task
    def status(self) -> None:
        self.call("GET", f"/api/v1/queue/status/{EVENT}", "queue status",
                  params={"ticket": self.ticket})


class Reserver(FlashSaleBuyer):
    """Reservation and payment traffic of the mix: a whole purchase, then another buyer's."""

    wait_time = between(1, 3)

    def _done(self) -> None:
        self.buyer = next_buyer()


class AuthUser(Api):
    wait_time = between(5, 10)

    @task(1)
    def login(self) -> None:
        self.call("POST", "/api/v1/auth/login", "auth login",
                  json={"email": self.buyer["email"], "password": self.buyer["password"]},
                  headers={"X-Forwarded-For": self.ip})

    @task(4)
    def me(self) -> None:
        self.call("GET", "/api/v1/auth/me", "auth me")


# User weights that give the seed's peak request mix (each kind of user sends requests at its
# own pace; measured shares in loadtest/README.md).
Browser.weight = 52
QueueWatcher.weight = 25
Reserver.weight = 21  # reservations 17 % + payments 4 %: a purchase makes both
AuthUser.weight = 10
Admin.weight = 1
FlashSaleBuyer.weight = 1
