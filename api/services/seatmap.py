"""Event service, seat layout. Two resources with different lives:

- the layout (the venue, its sections, rows and seats with grade, price and position, the
  ticket types) changes only with the venue: `GET .../{eventId}/layout/{digest}` names it by a
  digest of its bytes, so it is immutable and cached for a year; a replica serialises and
  compresses it (gzip, brotli) once, when it first loads the event;
- the live part (one character per seat, availability per section and grade), refreshed from
  the shards every `TIKETI_SEATMAP_REFRESH_S`: `GET .../{eventId}?view=status`, which names the
  layout's URL; compressed once per refresh.

`GET .../{eventId}` (`view=full`, the default, for existing clients) sends both in one
document. It begins with the layout, so its gzip form costs a refresh only the compression of
the live part (`GzipPrefix`). A request is answered from bytes made beforehand, without
calling the engine."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints
from starlette.responses import Response

from api.compression import (
    Encoded,
    GzipPrefix,
    brotli_bytes,
    encoded,
    gzip_bytes,
    respond,
)
from api.context import ApiContext, started
from api.errors import NotFound
from api.routing import Call, Endpoint
from api.schemas import PathSchema, QuerySchema, Schema
from engine.background import BackgroundJob
from engine.core.venue import Venue
from engine.store import events_repo
from engine.store.errors import NotFound as StoreNotFound

log = logging.getLogger(__name__)

PREFIX = "/api/v1/seats/events"
IDLE_AFTER_S = 60.0
STATUS_LEGEND = {"0": "available", "1": "held", "2": "sold"}
SEAT_ID_FORMAT = "{section}-{row}-{number}"
LIVE_CACHE = "no-cache"
"""The live part may be kept, but must be revalidated (its ETag) before each use."""
LAYOUT_CACHE = "public, max-age=31536000, immutable"
"""A layout's URL names its bytes: they never change."""
LAYOUT_GZIP_LEVEL = 9
LAYOUT_BROTLI_QUALITY = 11
"""A layout is compressed once per replica, so at the strongest levels (brotli's 11 takes a
few seconds of a worker thread for the 47,400-seat stadium and saves a third over 5)."""
DIGEST_CHARS = 32
LAYOUTS_KEPT = 16
"""Compressed layouts kept by digest, so an event that goes idle and comes back is not
compressed again."""

Digest = Annotated[str, StringConstraints(pattern=f"^[0-9a-f]{{{DIGEST_CHARS}}}$")]


class EventPath(PathSchema):
    event_id: UUID


class LayoutPath(PathSchema):
    event_id: UUID
    digest: Digest = Field(description="The layout's digest, as the live view names it")


class SeatMapQuery(QuerySchema):
    view: Literal["full", "status"] = Field(
        "full", description="`status` leaves out the (unchanging) layout: fetch it once from "
                            "`layoutUrl`")


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
    layout_digest: str = Field(description="Names the layout the status is in the order of")
    layout_url: str = Field(description="Where the layout is, immutable and cacheable")
    venue: dict[str, Any] | None = None
    sections: list[SectionLayout] | None = None
    ticket_types: list[dict[str, Any]] | None = None


class SeatLayoutOut(Schema):
    layout_digest: str
    seat_id_format: str
    venue: dict[str, Any]
    sections: list[SectionLayout]
    ticket_types: list[dict[str, Any]]


@dataclass(frozen=True)
class Layout:
    """An event's layout, serialised once: `inner` is `"venue":...,"sections":...,
    "ticketTypes":...` (the members both documents share), `document` the layout resource,
    which its digest names: equal digests, equal bytes."""

    event_id: str
    inner: bytes
    digest: str
    document: Encoded
    seat_ids: list[str]

    @property
    def url(self) -> str:
        return f"{PREFIX}/{self.event_id}/layout/{self.digest}"

    @classmethod
    def of(cls, event_id: str, venue: Venue) -> Layout:
        data = venue.to_dict()
        inner = json.dumps({"venue": {"name": data["name"], "focal": data["focal"]},
                            "sections": data["sections"],
                            "ticketTypes": data["ticket_types"]},
                           separators=(",", ":"))[1:-1].encode()
        digest = hashlib.sha256(inner).hexdigest()[:DIGEST_CHARS]
        # Nothing of the event but its layout: events with equal layouts share the bytes (and
        # their compressed forms, kept by digest).
        document = (f'{{"layoutDigest":"{digest}","seatIdFormat":"{SEAT_ID_FORMAT}",'
                    ).encode() + inner + b"}"
        return cls(event_id, inner, digest, Encoded(document, f'"{digest}"'),
                   [s.id for s in venue.seats()])


@dataclass(frozen=True)
class _Compressed:
    """What a layout costs to compress, made once in a worker thread."""

    gzip: bytes
    br: bytes
    full_prefix: GzipPrefix  # the full view's gzip state after its layout part

    @classmethod
    def of(cls, layout: Layout) -> _Compressed:
        doc = layout.document.identity
        return cls(gzip_bytes(doc, LAYOUT_GZIP_LEVEL), brotli_bytes(doc, LAYOUT_BROTLI_QUALITY),
                   GzipPrefix(b"{" + layout.inner + b","))


_NOTHING_YET = Encoded(b"", '""')


@dataclass
class _EventMap:
    layout: Layout
    asked_at: float = field(default_factory=time.monotonic)
    compressed: _Compressed | None = None
    status: Encoded = _NOTHING_YET
    full: Encoded = _NOTHING_YET
    _tail: bytes = b""  # the full view after its layout part, as last rendered

    def render(self, states: dict[str, int], availability: dict[str, Any]) -> None:
        """The live part from the shards' answers, and both documents in every coding, at once
        (the refresh loop compresses in a worker thread: `live`, `encode`, `show`)."""
        etag, live = self.live(states, availability)
        self.show(live, *self.encode(etag, live, self.compressed))

    def live(self, states: dict[str, int], availability: dict[str, Any]) -> tuple[str, bytes]:
        """The live part's members (`"eventId":...,"availability":{...}`) and its validator,
        which changes with the seats and the availability, not with the clock."""
        status = "".join("012"[states.get(sid, 0)] for sid in self.layout.seat_ids)
        changing = (f'"status":"{status}",'
                    f'"availability":{json.dumps(availability, separators=(",", ":"))}')
        etag = '"' + hashlib.sha256(changing.encode()).hexdigest()[:32] + '"'
        live = (f'"eventId":{json.dumps(self.layout.event_id)},"asOf":{time.time():.3f},'
                f'"seatIdFormat":"{SEAT_ID_FORMAT}",'
                f'"statusLegend":{json.dumps(STATUS_LEGEND)},'
                f'"layoutDigest":"{self.layout.digest}","layoutUrl":"{self.layout.url}",'
                + changing).encode()
        return etag, live

    def encode(self, etag: str, live: bytes,
               compressed: _Compressed | None) -> tuple[Encoded, Encoded]:
        """The status view and the full view of `live`, compressed; reads nothing that
        changes, so it can run in a worker thread."""
        tail = live + b"}"
        return encoded(b"{" + tail, etag), self._full_of(etag, tail, compressed)

    def show(self, live: bytes, status: Encoded, full: Encoded) -> None:
        self._tail = live + b"}"
        self.status = status
        if full.gzip is None and self.compressed is not None:  # compressed in the meantime
            full = self._full_of(full.etag, self._tail, self.compressed)
        self.full = full

    def take(self, compressed: _Compressed) -> None:
        """The layout's compressed forms, from now on (the full view's gzip at once)."""
        self.compressed = compressed
        if self._tail:
            self.full = self._full_of(self.full.etag, self._tail, compressed)

    def _full_of(self, etag: str, tail: bytes, compressed: _Compressed | None) -> Encoded:
        return Encoded(b"{" + self.layout.inner + b"," + tail, etag,
                       gzip=None if compressed is None else compressed.full_prefix.complete(tail))

    @property
    def layout_document(self) -> Encoded:
        doc = self.layout.document
        if self.compressed is None:
            return doc
        return Encoded(doc.identity, doc.etag, gzip=self.compressed.gzip,
                       br=self.compressed.br)


class SeatMaps:
    """The per-replica seat maps and the loop that keeps them fresh."""

    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx
        self._maps: dict[str, _EventMap] = {}
        self._loading: dict[str, asyncio.Task[_EventMap]] = {}
        self._compressed: OrderedDict[str, _Compressed] = OrderedDict()
        self._compressing: set[asyncio.Task[None]] = set()
        self._job = BackgroundJob("seat map refresh", self._refresh_all,
                                  every_s=ctx.settings.catalog.seatmap_refresh_s, logger=log)

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
        seat_map = _EventMap(Layout.of(event_id, venue))
        seat_map.compressed = self._compressed.get(seat_map.layout.digest)
        await self._refresh(seat_map)
        self._maps[event_id] = seat_map
        if seat_map.compressed is None:
            # Until the worker thread is done, the layout goes out uncompressed.
            task = asyncio.get_running_loop().create_task(self._compress(seat_map))
            self._compressing.add(task)
            task.add_done_callback(self._compressing.discard)
        return seat_map

    async def _compress(self, seat_map: _EventMap) -> None:
        try:
            compressed = await asyncio.to_thread(_Compressed.of, seat_map.layout)
        except Exception:
            log.exception("compressing the layout of %s failed", seat_map.layout.event_id)
            return
        self._compressed[seat_map.layout.digest] = compressed
        while len(self._compressed) > LAYOUTS_KEPT:
            self._compressed.popitem(last=False)
        seat_map.take(compressed)

    async def _refresh(self, seat_map: _EventMap) -> None:
        seats = await self._ctx.engine.seats(seat_map.layout.event_id)
        states, availability = await asyncio.gather(seats.seat_states(), seats.availability())
        etag, live = seat_map.live(states, availability)
        # zlib and brotli let go of the GIL: requests keep being answered meanwhile.
        views = await asyncio.to_thread(seat_map.encode, etag, live, seat_map.compressed)
        seat_map.show(live, *views)

    async def start(self) -> None:
        self._job.start()

    async def close(self) -> None:
        await self._job.stop()
        for task in list(self._compressing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh_all(self) -> None:
        now = time.monotonic()
        for event_id, seat_map in list(self._maps.items()):
            if now - seat_map.asked_at > IDLE_AFTER_S:
                del self._maps[event_id]
                continue
            try:
                await self._refresh(seat_map)
            except Exception as exc:  # keep serving the last good map
                log.warning("seat map refresh of %s failed: %s", event_id, exc)


async def _map_of(call: Call[ApiContext, object, object, object],
                  event_id: UUID) -> _EventMap:
    maps = started(call.ctx.seat_maps, "the seat maps")
    try:
        return await maps.get(str(event_id))
    except StoreNotFound:
        raise NotFound(f"no event {event_id}") from None


async def seat_map(call: Call[ApiContext, None, SeatMapQuery, EventPath]) -> Response:
    path = call.params
    found = await _map_of(call, path.event_id)
    query = call.query
    return respond(found.full if query.view == "full" else found.status,
                   call.request.headers, cache_control=LIVE_CACHE)


async def seat_layout(call: Call[ApiContext, None, None, LayoutPath]) -> Response:
    path = call.params
    found = await _map_of(call, path.event_id)
    if path.digest != found.layout.digest:
        raise NotFound(f"event {path.event_id} has no layout {path.digest}; its layout is at "
                       f"{found.layout.url}", code="LAYOUT_NOT_FOUND",
                       details={"layoutUrl": found.layout.url})
    return respond(found.layout_document, call.request.headers, cache_control=LAYOUT_CACHE)


async def start(ctx: ApiContext) -> None:
    maps = SeatMaps(ctx)
    await maps.start()
    ctx.seat_maps = maps
    ctx.closers.append(maps.close)


ENDPOINTS = [
    Endpoint("GET", f"{PREFIX}/{{event_id}}", seat_map,
             "Each seat's live status and availability, with the layout unless view=status "
             "(gzip or brotli as Accept-Encoding allows; revalidate with If-None-Match)",
             "events", auth="optional", params=EventPath, query=SeatMapQuery,
             response=SeatMapOut, errors=(404,),
             extra_responses={304: "Not modified since the ETag given"}),
    Endpoint("GET", f"{PREFIX}/{{event_id}}/layout/{{digest}}", seat_layout,
             "The event's seat layout, immutable under its digest (cache-control: immutable, "
             "a year); gzip or brotli as Accept-Encoding allows", "events", auth="optional",
             params=LayoutPath, response=SeatLayoutOut, errors=(404,),
             extra_responses={304: "Not modified since the ETag given"}),
]
