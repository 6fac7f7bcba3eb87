"""A buyer's whole journey over real HTTP through Ray Serve: register, log in, join the
queue, wait to be admitted, lock seats, reserve, see the reservation, cancel it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.client import Client, small_event
from tests.e2e.conftest import ADMIN_PASSWORD, Engine


@pytest.fixture
async def admin(api: str, engine: Engine) -> AsyncIterator[Client]:
    client = Client(api)
    r = await client.login(engine.settings.security.admin_email, ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    yield client
    await client.close()


@pytest.fixture
async def buyer(api: str) -> AsyncIterator[Client]:
    client = Client(api)
    await client.register("Buyer")
    yield client
    await client.close()


@pytest.fixture
async def event(admin: Client) -> dict[str, Any]:
    r = await admin.post("/api/v1/admin/events", json=small_event())
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def admitted(client: Client, event_id: str) -> dict[str, Any]:
    """Joins and polls status until admitted; returns the admitting status."""
    r = await client.post(f"/api/v1/queue/join/{event_id}")
    assert r.status_code == 200, r.text
    status = r.json()
    for _ in range(60):
        if status["admitted"]:
            return status  # type: ignore[no-any-return]
        await asyncio.sleep(0.25)
        r = await client.get(f"/api/v1/queue/status/{event_id}",
                             params={"ticket": status["ticket"]})
        assert r.status_code == 200, r.text
        status = r.json()
    raise AssertionError(f"never admitted: {status}")


async def test_a_buyer_goes_from_register_to_reservation(buyer: Client,
                                                          event: dict[str, Any]) -> None:
    event_id = event["id"]
    me = await buyer.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["id"] == buyer.user["id"]

    listing = await buyer.get("/api/v1/events", params={"q": event["title"]})
    assert listing.status_code == 200
    assert [e["id"] for e in listing.json()["items"]] == [event_id]

    status = await admitted(buyer, event_id)
    assert status["accessToken"] and status["state"] == "admitted"

    seat_map = await buyer.get(f"/api/v1/seats/events/{event_id}")
    assert seat_map.status_code == 200
    layout = seat_map.json()
    assert len(layout["status"]) == 32 and set(layout["status"]) == {"0"}

    lock = await buyer.post("/api/v1/seats/lock",
                            json={"eventId": event_id, "count": 2, "section": "A"},
                            headers={"X-Event-Access-Token": status["accessToken"],
                                     "Idempotency-Key": "lock-1"})
    assert lock.status_code == 201, lock.text
    hold = lock.json()
    assert len(hold["seatIds"]) == 2 and hold["amount"] == 300_000
    again = await buyer.post("/api/v1/seats/lock",
                             json={"eventId": event_id, "count": 2, "section": "A"},
                             headers={"X-Event-Access-Token": status["accessToken"],
                                      "Idempotency-Key": "lock-1"})
    assert again.json()["holdId"] == hold["holdId"], "the same key gives the same hold"

    reserve = await buyer.post("/api/v1/reservations",
                               json={"eventId": event_id, "holdId": hold["holdId"]})
    assert reserve.status_code == 201, reserve.text
    reservation = reserve.json()
    assert reservation["status"] == "PENDING" and reservation["totalAmount"] == 300_000
    assert sorted(i["seatId"] for i in reservation["items"]) == sorted(hold["seatIds"])

    mine = await buyer.get("/api/v1/reservations/my")
    assert [r["id"] for r in mine.json()["items"]] == [reservation["id"]]
    one = await buyer.get(f"/api/v1/reservations/{reservation['id']}")
    assert one.status_code == 200 and one.json()["status"] == "PENDING"

    for _ in range(20):  # the seat map refreshes about once a second
        held = (await buyer.get(f"/api/v1/seats/events/{event_id}",
                                params={"view": "status"})).json()
        if held["status"].count("1") == 2:
            break
        await asyncio.sleep(0.25)
    assert held["status"].count("1") == 2 and "sections" not in held

    cancelled = await buyer.post(f"/api/v1/reservations/{reservation['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    relock = await buyer.post("/api/v1/seats/lock",
                              json={"eventId": event_id, "seatIds": hold["seatIds"]},
                              headers={"X-Event-Access-Token": status["accessToken"]})
    assert relock.status_code == 201, "cancelling put the seats back on sale"


async def test_locks_need_admission(buyer: Client, event: dict[str, Any], api: str) -> None:
    body = {"eventId": event["id"], "count": 1}
    r = await buyer.post("/api/v1/seats/lock", json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "NOT_ADMITTED"
    r = await buyer.post("/api/v1/seats/lock", json=body,
                         headers={"X-Event-Access-Token": buyer.token or ""})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ACCESS_INVALID"
    other = Client(api)
    await other.register("Other")
    status = await admitted(other, event["id"])
    r = await buyer.post("/api/v1/seats/lock", json=body,
                         headers={"X-Event-Access-Token": status["accessToken"]})
    assert r.status_code == 403, "someone else's access token"
    await other.close()


async def test_seat_conflicts_and_limits(buyer: Client, event: dict[str, Any],
                                         api: str) -> None:
    event_id = event["id"]
    status = await admitted(buyer, event_id)
    headers = {"X-Event-Access-Token": status["accessToken"]}
    r = await buyer.post("/api/v1/seats/lock", headers=headers,
                         json={"eventId": event_id, "seatIds": ["A-1-1", "B-1-1"]})
    assert r.status_code == 201, r.text
    assert "+" in r.json()["holdId"], "the seats are on two shards"
    rival = Client(api)
    await rival.register("Rival")
    rival_status = await admitted(rival, event_id)
    r = await rival.post("/api/v1/seats/lock",
                         headers={"X-Event-Access-Token": rival_status["accessToken"]},
                         json={"eventId": event_id, "seatIds": ["A-1-1"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "SEAT_UNAVAILABLE"
    r = await buyer.post("/api/v1/seats/lock", headers=headers,
                         json={"eventId": event_id, "ticketTypeId": "GA", "quantity": 3})
    assert r.status_code == 409 and r.json()["error"]["code"] == "USER_LIMIT_EXCEEDED"
    r = await buyer.post("/api/v1/seats/lock", headers=headers,
                         json={"eventId": event_id, "seatIds": ["Z-9-9"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "UNKNOWN_SEAT"
    r = await rival.post("/api/v1/reservations", json={"eventId": event_id,
                                                        "holdId": "0.abc"})
    assert r.status_code == 404
    await rival.close()
