"""The seat layout over real HTTP through Ray Serve: the live part names the layout's URL, the
layout there is immutable and compressed, the full view still carries both, and a bad event
id or digest is a JSON 404."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.client import Client, small_event
from tests.e2e.conftest import ADMIN_PASSWORD, Engine

BROWSER = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture
async def event_id(api: str, engine: Engine) -> AsyncIterator[str]:
    admin = Client(api)
    r = await admin.login(engine.settings.security.admin_email, ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    r = await admin.post("/api/v1/admin/events", json=small_event())
    assert r.status_code == 201, r.text
    yield r.json()["id"]
    await admin.close()


async def test_the_live_part_names_an_immutable_compressed_layout(api: str,
                                                                  event_id: str) -> None:
    base = f"/api/v1/seats/events/{event_id}"
    client = Client(api)  # an address of its own: the rate limit counts anonymous callers by it
    async with client.http as http:
        status = await http.get(f"{base}?view=status", headers=BROWSER)
        assert status.status_code == 200
        assert status.headers["content-encoding"] == "br"
        assert status.num_bytes_downloaded < len(status.content)
        assert status.headers["cache-control"] == "no-cache"
        assert status.headers["vary"] == "accept-encoding"
        live: dict[str, Any] = status.json()
        assert len(live["status"]) == 32 and "sections" not in live
        url = live["layoutUrl"]
        assert url == f"{base}/layout/{live['layoutDigest']}"

        plain = await http.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "content-encoding" not in plain.headers
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert plain.headers["etag"] == f'"{live["layoutDigest"]}"'
        layout = plain.json()
        assert layout["layoutDigest"] == live["layoutDigest"]
        assert sum(len(r["seats"]) for s in layout["sections"] for r in s["rows"]) == 32

        for _ in range(50):  # the replica compresses a layout once, in a worker thread
            zipped = await http.get(url, headers={"Accept-Encoding": "gzip"})
            assert zipped.status_code == 200, zipped.text
            if zipped.headers.get("content-encoding") == "gzip":
                break
            await asyncio.sleep(0.2)
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == plain.content
        assert zipped.num_bytes_downloaded < len(plain.content)
        again = await http.get(url, headers={"If-None-Match": zipped.headers["etag"]})
        assert again.status_code == 304 and again.content == b""

        full = await http.get(base, headers={"Accept-Encoding": "gzip"})
        assert full.headers["content-encoding"] == "gzip"
        whole = full.json()
        assert whole["sections"] == layout["sections"] and whole["status"] == live["status"]
        unchanged = await http.get(base, headers={"If-None-Match": full.headers["etag"]})
        assert unchanged.status_code == 304


@pytest.mark.parametrize(
    "path",
    ["/api/v1/seats/events/not-a-uuid",
     "/api/v1/seats/events/{event}/layout/0123456789abcdef0123456789abcdef",
     "/api/v1/seats/events/{event}/layout/NOT-A-DIGEST",
     "/api/v1/seats/events/6f9619ff-8b86-d011-b42d-00cf4fc964ff/layout/"
     "0123456789abcdef0123456789abcdef"],
)
async def test_a_layout_that_does_not_exist_is_a_json_404(api: str, event_id: str,
                                                          path: str) -> None:
    async with Client(api).http as http:
        r = await http.get(path.format(event=event_id))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] in {"NOT_FOUND", "LAYOUT_NOT_FOUND"}
