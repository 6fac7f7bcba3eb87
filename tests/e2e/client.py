"""A small HTTP client for the API tests: one per simulated client (its own forwarded IP)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


class Client:
    def __init__(self, base: str) -> None:
        ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        self.http = httpx.AsyncClient(base_url=base, timeout=30,
                                      headers={"X-Forwarded-For": ip})
        self.token: str | None = None
        self.refresh: str | None = None
        self.user: dict[str, Any] = {}

    async def close(self) -> None:
        await self.http.aclose()

    def auth(self, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def register(self, name: str = "Buyer") -> dict[str, Any]:
        email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        r = await self.http.post("/api/v1/auth/register",
                                 json={"email": email, "password": "correct horse", "name": name})
        assert r.status_code == 201, r.text
        self._take(r.json())
        return r.json()

    async def login(self, email: str, password: str) -> httpx.Response:
        r = await self.http.post("/api/v1/auth/login", json={"email": email, "password": password})
        if r.status_code == 200:
            self._take(r.json())
        return r

    def _take(self, body: dict[str, Any]) -> None:
        self.token = body["accessToken"]
        self.refresh = body["refreshToken"]
        self.user = body["user"]

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.auth(**kw.pop("headers", {})), **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.post(path, headers=self.auth(**kw.pop("headers", {})), **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.put(path, headers=self.auth(**kw.pop("headers", {})), **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.delete(path, headers=self.auth(**kw.pop("headers", {})), **kw)


def small_event(**over: Any) -> dict[str, Any]:
    """An admin event body: two sections of two rows and standing tickets, sale open now.
    With two shards, section A and the standing tickets land on one, section B on the other."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "title": f"Test concert {uuid.uuid4().hex[:6]}",
        "description": "An end-to-end test event",
        "category": "concert",
        "startsAt": (now + timedelta(days=10)).isoformat(),
        "saleOpensAt": (now - timedelta(seconds=5)).isoformat(),
        "layout": {
            "name": "Test Arena",
            "sections": [
                {"id": "A", "name": "Section A", "rows": [
                    {"label": "1", "seats": 8, "grade": "R", "price": 150000, "y": 10},
                    {"label": "2", "seats": 8, "grade": "R", "price": 150000, "y": 11}]},
                {"id": "B", "name": "Section B", "rows": [
                    {"label": "1", "seats": 8, "grade": "S", "price": 90000, "y": 30},
                    {"label": "2", "seats": 8, "grade": "S", "price": 90000, "y": 31}]},
            ],
            "ticketTypes": [{"id": "GA", "name": "Standing", "grade": "A", "price": 60000,
                             "quantity": 10}],
        },
        "sale": {"admissionRate": 50, "activeCap": 100, "perUserLimit": 4,
                 "holdTtlSeconds": 120, "holdMaxLifetimeSeconds": 300},
        "shardCount": 2,
    }
    body.update(over)
    return body
