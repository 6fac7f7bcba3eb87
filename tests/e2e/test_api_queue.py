"""The queue over HTTP and WebSocket: places, status from the summary (no actor call per
request), leaving, the WebSocket's `queue:update` messages up to admission."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from engine.actors.directory import queue_actor_name
from tests.e2e.client import Client, small_event
from tests.e2e.conftest import ADMIN_PASSWORD, Engine


@pytest.fixture
async def admin(api: str, engine: Engine) -> AsyncIterator[Client]:
    client = Client(api)
    email = engine.settings.security.admin_email
    assert (await client.login(email, ADMIN_PASSWORD)).status_code == 200
    yield client
    await client.close()


async def clients(api: str, n: int) -> list[Client]:
    out = []
    for i in range(n):
        c = Client(api)
        await c.register(f"Fan{i}")
        out.append(c)
    return out


async def test_places_are_exact_and_status_needs_no_actor_call(
    admin: Client, api: str, engine: Engine
) -> None:
    from datetime import UTC, datetime, timedelta

    opened = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await admin.post("/api/v1/admin/events", json=small_event(
        saleOpensAt=opened, sale={"admissionRate": 0.02, "activeCap": 1}))
    event_id = r.json()["id"]
    fans = await clients(api, 5)
    tickets = []
    for fan in fans:
        status = (await fan.post(f"/api/v1/queue/join/{event_id}")).json()
        tickets.append(status["ticket"])
        assert status["state"] in ("waiting", "admitted")
    for _ in range(40):  # one admission token was saved up: the first fan gets it
        first = (await fans[0].get(f"/api/v1/queue/status/{event_id}",
                                   params={"ticket": tickets[0]})).json()
        if first["admitted"]:
            break
        await asyncio.sleep(0.1)
    assert first["admitted"]
    again = (await fans[2].post(f"/api/v1/queue/join/{event_id}")).json()
    assert again["ticket"] == tickets[2], "joining again keeps the place"

    import ray

    queue = ray.get_actor(queue_actor_name(event_id), namespace=engine.settings.namespace)
    await asyncio.sleep(0.6)
    reads_before = (await queue.stats.remote())["reads"]
    for _ in range(10):
        for fan, ticket in zip(fans[1:], tickets[1:], strict=True):
            r = await fan.get(f"/api/v1/queue/status/{event_id}", params={"ticket": ticket})
            assert r.status_code == 200
    reads_after = (await queue.stats.remote())["reads"]
    assert reads_after - reads_before < 10, "40 status calls, answered from the summary"
    positions = [(await f.get(f"/api/v1/queue/status/{event_id}",
                              params={"ticket": t})).json()["position"]
                 for f, t in zip(fans[1:], tickets[1:], strict=True)]
    assert positions == [0, 1, 2, 3]

    left = await fans[2].post(f"/api/v1/queue/leave/{event_id}")
    assert left.status_code == 200 and left.json()["state"] == "left"
    for _ in range(20):
        ahead = (await fans[4].get(f"/api/v1/queue/status/{event_id}",
                                   params={"ticket": tickets[4]})).json()["position"]
        if ahead == 2:
            break
        await asyncio.sleep(0.2)
    assert ahead == 2, "positions count only users still waiting"
    r = await fans[4].get(f"/api/v1/queue/status/{event_id}", params={"ticket": tickets[3]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_TICKET"
    again_leave = await fans[2].post(f"/api/v1/queue/leave/{event_id}")
    assert again_leave.status_code == 404
    for fan in fans:
        await fan.close()


async def test_the_websocket_pushes_updates_until_admission(admin: Client, api: str) -> None:
    r = await admin.post("/api/v1/admin/events", json=small_event(
        sale={"admissionRate": 1.0, "activeCap": 100}))
    event_id = r.json()["id"]
    fans = await clients(api, 3)
    joined = [(await f.post(f"/api/v1/queue/join/{event_id}")).json() for f in fans]
    last = fans[-1]
    url = (api.replace("http", "ws") + f"/api/v1/queue/ws/{event_id}"
           f"?token={last.token}&ticket={joined[-1]['ticket']}")
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url) as socket:
        async for raw in socket:
            message = json.loads(raw)
            messages.append(message)
            if message.get("admitted") or len(messages) > 30:
                break
    assert all(m["type"] == "queue:update" for m in messages)
    positions = [m["position"] for m in messages if m["state"] == "waiting"]
    assert positions == sorted(positions, reverse=True), "the place only moves forward"
    final = messages[-1]
    assert final["admitted"] and final["accessToken"], "the admitting update has the token"
    lock = await last.post("/api/v1/seats/lock", json={"eventId": event_id, "count": 1},
                           headers={"X-Event-Access-Token": final["accessToken"]})
    assert lock.status_code == 201
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(api.replace("http", "ws")
                                      + f"/api/v1/queue/ws/{event_id}?token=bad"):
            pass
    for fan in fans:
        await fan.close()


async def test_queue_errors(api: str) -> None:
    fan = (await clients(api, 1))[0]
    r = await fan.post("/api/v1/queue/join/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    r = await fan.post("/api/v1/queue/join/not-an-id")
    assert r.status_code == 404
    anonymous = Client(api)
    r = await anonymous.post("/api/v1/queue/join/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 401
    r = await anonymous.get("/api/v1/queue/ws/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 426
    await anonymous.close()
    await fan.close()
