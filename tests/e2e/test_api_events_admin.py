"""The catalogue and the admin service over HTTP: search, filters, sorting, pages, detail,
cache invalidation on edits and on selling out, event creation and its validation, settings
reaching the shards, deletion rules, the dashboard, reservations search."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.client import Client, small_event
from tests.e2e.conftest import ADMIN_PASSWORD, Engine
from tests.e2e.test_api_journey import admitted


@pytest.fixture
async def admin(api: str, engine: Engine) -> AsyncIterator[Client]:
    client = Client(api)
    email = engine.settings.security.admin_email
    assert (await client.login(email, ADMIN_PASSWORD)).status_code == 200
    yield client
    await client.close()


@pytest.fixture
async def buyer(api: str) -> AsyncIterator[Client]:
    client = Client(api)
    await client.register("Browser")
    yield client
    await client.close()


async def create(admin: Client, **over: Any) -> dict[str, Any]:
    r = await admin.post("/api/v1/admin/events", json=small_event(**over))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_search_filters_sort_and_pages(admin: Client, buyer: Client) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    made = [await create(admin, title=f"{tag} night {i}", category=cat,
                         startsAt=(now + timedelta(days=20 - i)).isoformat(),
                         saleOpensAt=(now + timedelta(days=opens)).isoformat())
            for i, (cat, opens) in enumerate([("concert", -1), ("musical", 1),
                                              ("concert", 2)])]
    r = await buyer.get("/api/v1/events", params={"q": tag})
    body = r.json()
    assert body["total"] == 3
    assert [e["id"] for e in body["items"]] == [m["id"] for m in reversed(made)]
    r = await buyer.get("/api/v1/events", params={"q": tag, "category": "concert",
                                                  "sort": "-startsAt"})
    assert [e["id"] for e in r.json()["items"]] == [made[0]["id"], made[2]["id"]]
    r = await buyer.get("/api/v1/events", params={"q": tag, "status": "on_sale"})
    assert [e["id"] for e in r.json()["items"]] == [made[0]["id"]]
    assert r.json()["items"][0]["status"] == "on_sale"
    r = await buyer.get("/api/v1/events", params={"q": tag, "status": "upcoming"})
    assert {e["id"] for e in r.json()["items"]} == {made[1]["id"], made[2]["id"]}
    r = await buyer.get("/api/v1/events", params={"q": tag, "pageSize": 2, "page": 2})
    assert r.json()["total"] == 3 and len(r.json()["items"]) == 1
    r = await buyer.get("/api/v1/events", params={
        "q": tag, "from": (now + timedelta(days=19, hours=12)).isoformat()})
    assert [e["id"] for e in r.json()["items"]] == [made[0]["id"]]
    detail = (await buyer.get(f"/api/v1/events/{made[1]['id']}")).json()
    assert detail["queueSeed"] is None and len(detail["queueSeedSha256"]) == 64
    assert {s["id"]: s["prices"] for s in detail["sections"]} == {
        "A": {"R": 150000}, "B": {"S": 90000}}
    opened = (await buyer.get(f"/api/v1/events/{made[0]['id']}")).json()
    assert opened["queueSeed"], "the seed is revealed once the sale opens"


async def test_edits_reach_the_cache_and_the_shards(admin: Client, buyer: Client) -> None:
    event = await create(admin)
    first = (await buyer.get(f"/api/v1/events/{event['id']}")).json()
    assert first["title"] == event["title"]
    r = await admin.put(f"/api/v1/admin/events/{event['id']}",
                        json={"title": "Renamed", "sale": {"perUserLimit": 1,
                                                           "admissionRate": 80}})
    assert r.status_code == 200, r.text
    for _ in range(10):
        detail = (await buyer.get(f"/api/v1/events/{event['id']}")).json()
        if detail["title"] == "Renamed":
            break
        await asyncio.sleep(0.1)
    assert detail["title"] == "Renamed" and detail["sale"]["perUserLimit"] == 1
    status = await admitted(buyer, event["id"])
    r = await buyer.post("/api/v1/seats/lock", json={"eventId": event["id"], "count": 2},
                         headers={"X-Event-Access-Token": status["accessToken"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "USER_LIMIT_EXCEEDED", \
        "the shards follow the new per-user limit"
    bad = await admin.put(f"/api/v1/admin/events/{event['id']}",
                          json={"saleOpensAt": "2099-01-01T00:00:00+00:00"})
    assert bad.status_code == 409 and bad.json()["error"]["code"] == "INVALID_SCHEDULE"


async def test_selling_out_shows_in_the_catalogue(admin: Client, buyer: Client) -> None:
    layout = {"name": "Tiny Room", "sections": [{"id": "T", "name": "Tiny", "rows": [
        {"label": "1", "seats": 2, "grade": "R", "price": 1000}]}]}
    event = await create(admin, layout=layout, shardCount=1)
    status = await admitted(buyer, event["id"])
    r = await buyer.post("/api/v1/seats/lock", json={"eventId": event["id"], "count": 2},
                         headers={"X-Event-Access-Token": status["accessToken"]})
    assert r.status_code == 201
    for _ in range(40):
        listing = (await buyer.get("/api/v1/events", params={"q": event["title"]})).json()
        if listing["items"][0]["status"] == "sold_out":
            break
        await asyncio.sleep(0.25)
    assert listing["items"][0]["status"] == "sold_out"
    r = await buyer.post("/api/v1/seats/lock", json={"eventId": event["id"], "count": 1},
                         headers={"X-Event-Access-Token": status["accessToken"]})
    assert r.status_code == 409


async def test_event_creation_is_validated(admin: Client) -> None:
    bad_bodies = [
        small_event(layout={"name": "Empty"}),
        small_event(saleOpensAt="2099-01-01T00:00:00+00:00"),
        small_event(startsAt="2030-01-01T00:00:00"),
        small_event(shardCount=0),
        small_event(sale={"holdTtlSeconds": 600, "holdMaxLifetimeSeconds": 60}),
        {**small_event(), "surprise": 1},
    ]
    for body in bad_bodies:
        r = await admin.post("/api/v1/admin/events", json=body)
        assert r.status_code == 422, (body, r.text)
    dup = small_event()
    dup["layout"]["sections"][1]["id"] = "A"
    r = await admin.post("/api/v1/admin/events", json=dup)
    assert r.status_code == 422 and "duplicate" in r.json()["error"]["message"]
    slug = f"show-{uuid.uuid4().hex[:8]}"
    assert (await admin.post("/api/v1/admin/events", json=small_event(slug=slug))
            ).status_code == 201
    again = await admin.post("/api/v1/admin/events", json=small_event(slug=slug))
    assert again.status_code == 409


async def test_delete_is_refused_while_seats_are_held(admin: Client, buyer: Client) -> None:
    event = await create(admin)
    status = await admitted(buyer, event["id"])
    lock = await buyer.post("/api/v1/seats/lock", json={"eventId": event["id"], "count": 1},
                            headers={"X-Event-Access-Token": status["accessToken"]})
    assert lock.status_code == 201
    r = await admin.delete(f"/api/v1/admin/events/{event['id']}")
    assert r.status_code == 409 and r.json()["error"]["details"]["held"] == 1
    empty = await create(admin)
    r = await admin.delete(f"/api/v1/admin/events/{empty['id']}")
    assert r.status_code == 204
    assert (await buyer.get(f"/api/v1/events/{empty['id']}")).status_code == 404
    assert (await admin.delete(f"/api/v1/admin/events/{empty['id']}")).status_code == 404


async def test_dashboard_and_reservations_search(admin: Client, buyer: Client) -> None:
    event = await create(admin)
    status = await admitted(buyer, event["id"])
    lock = (await buyer.post("/api/v1/seats/lock", json={"eventId": event["id"], "count": 2},
                             headers={"X-Event-Access-Token": status["accessToken"]})).json()
    reservation = (await buyer.post("/api/v1/reservations", json={
        "eventId": event["id"], "holdId": lock["holdId"]})).json()
    r = await admin.get("/api/v1/admin/dashboard/stats", params={"eventId": event["id"]})
    assert r.status_code == 200, r.text
    stats = r.json()["items"][0]
    assert stats["seats"]["held"] == 2 and stats["seats"]["capacity"] == 42
    assert stats["queue"]["admittedTotal"] == 1 and stats["reservations"] == {"pending": 1}
    r = await admin.get("/api/v1/admin/reservations",
                        params={"eventId": event["id"], "status": "PENDING"})
    assert [x["id"] for x in r.json()["items"]] == [reservation["id"]]
    r = await admin.get("/api/v1/admin/reservations",
                        params={"eventId": event["id"], "status": "CONFIRMED"})
    assert r.json()["total"] == 0
    r = await admin.get("/api/v1/admin/reservations", params={"status": "MAYBE"})
    assert r.status_code == 422
    seen_by_admin = await admin.get(f"/api/v1/reservations/{reservation['id']}")
    assert seen_by_admin.status_code == 200
