"""Event service, seat layout: every seat with its live status, and availability per section
and grade. A hot path: each replica keeps, per event asked for recently, the layout
serialised once and the live part refreshed from the shards every `TIKETI_SEATMAP_REFRESH_S`;
a request is answered from those bytes without calling the engine."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from pydantic import Field
from starlette.responses import Response

from api.context import ApiContext
from api.errors import NotFound
from api.routing import Call, Endpoint
from api.schemas import QuerySchema, Schema
from engine.core.venue import Venue
from engine.store import events_repo
from engine.store.errors import NotFound as StoreNotFound

log = logging.getLogger(__name__)

PREFIX = "/api/v1/seats/events"
IDLE_AFTER_S = 60.0
STATUS_LEGEND = {"0": "available", "1": "held", "2": "sold"}


class SeatMapQuery(QuerySchema):
    view: Literal["full", "status"] = Field(
        "full", description="`status` leaves out the (unchanging) layout")


class RowOut(Schema):
    label: str
    seats: list[list[Any]] = Field(description="[number, grade, price, x, y] per seat")


class SectionLayout(Schema):
    id: str
    name: str
    rows: list[RowOut]


class SeatMapOut(Schema):
    event_id: str
    as_of: float
    seat_id_format: str
    status_legend: dict[str, str]
    status: str = Field(description="One character per seat, in layout order")
    availability: dict[str, Any]
    venue: dict[str, Any] | None = None
    sections: list[SectionLayout] | None = None
    ticket_types: list[dict[str, Any]] | None = None


@dataclass
class _EventMap:
    event_id: str
    layout: bytes  # `"venue":...,"sections":...,"ticketTypes":...`, serialised once
    seat_ids: list[str]
    asked_at: float = field(default_factory=time.monotonic)
    full: bytes = b""
    status_only: bytes = b""
    etag: str = ""

    def render(self, states: dict[str, int], availability: dict[str, Any]) -> None:
        status = "".join("012"[states.get(sid, 0)] for sid in self.seat_ids)
        now = time.time()
        live = (f'"eventId":{json.dumps(self.event_id)},"asOf":{now:.3f},'
                f'"seatIdFormat":"{{section}}-{{row}}-{{number}}",'
                f'"statusLegend":{json.dumps(STATUS_LEGEND)},"status":"{status}",'
                f'"availability":{json.dumps(availability, separators=(",", ":"))}').encode()
        self.status_only = b"{" + live + b"}"
        self.full = b"{" + live + b"," + self.layout + b"}"
        self.etag = '"' + hashlib.sha256(self.status_only[self.status_only.index(b'"status"'):]
                                         ).hexdigest()[:32] + '"'


def _layout(venue: Venue) -> bytes:
    data = venue.to_dict()
    layout = {
        "venue": {"name": data["name"], "focal": data["focal"]},
        "sections": data["sections"],
        "ticketTypes": data["ticket_types"],
    }
    return json.dumps(layout, separators=(",", ":"))[1:-1].encode()


class SeatMaps:
    """The per-replica seat maps and the loop that keeps them fresh."""

    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx
        self._maps: dict[str, _EventMap] = {}
        self._loading: dict[str, asyncio.Task[_EventMap]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, event_id: str) -> _EventMap:
        found = self._maps.get(event_id)
        if found is not None:
            found.asked_at = time.monotonic()
            return found
        task = self._loading.get(event_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(event_id))
            self._loading[event_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._loading.pop(event_id, None)

    async def _load(self, event_id: str) -> _EventMap:
        async with self._ctx.db.acquire() as conn:
            venue = await events_repo.load_venue(conn, UUID(event_id))
        seat_map = _EventMap(event_id, _layout(venue), [s.id for s in venue.seats()])
        await self._refresh(seat_map)
        self._maps[event_id] = seat_map
        return seat_map

    async def _refresh(self, seat_map: _EventMap) -> None:
        seats = await self._ctx.engine.seats(seat_map.event_id)
        states, availability = await asyncio.gather(seats.seat_states(), seats.availability())
        seat_map.render(states, availability)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._ctx.settings.seatmap_refresh_s)
            now = time.monotonic()
            for event_id, seat_map in list(self._maps.items()):
                if now - seat_map.asked_at > IDLE_AFTER_S:
                    del self._maps[event_id]
                    continue
                try:
                    await self._refresh(seat_map)
                except Exception as exc:  # keep serving the last good map
                    log.warning("seat map refresh of %s failed: %s", event_id, exc)


async def seat_map(call: Call[ApiContext]) -> Response:
    raw = call.path["event_id"]
    try:
        event_id = str(UUID(raw))
    except ValueError:
        raise NotFound(f"no event {raw}") from None
    maps: SeatMaps = call.ctx.extras["seat_maps"]
    try:
        found = await maps.get(event_id)
    except StoreNotFound:
        raise NotFound(f"no event {event_id}") from None
    if call.request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers={"etag": found.etag})
    query: SeatMapQuery = call.query
    body = found.full if query.view == "full" else found.status_only
    return Response(body, media_type="application/json",
                    headers={"etag": found.etag, "cache-control": "no-cache"})


async def start(ctx: ApiContext) -> None:
    maps = SeatMaps(ctx)
    await maps.start()
    ctx.extras["seat_maps"] = maps
    ctx.closers.append(maps.close)


ENDPOINTS = [
    Endpoint("GET", f"{PREFIX}/{{event_id}}", seat_map,
             "Seat layout with each seat's live status and availability", "events",
             auth="optional", query=SeatMapQuery, response=SeatMapOut, errors=(404,),
             extra_responses={304: "Not modified since the ETag given"}),
]
