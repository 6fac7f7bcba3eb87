"""Event service: the catalogue — search, filters, sorting, pages — and each event's detail,
served from the shared cache (TTL 30 s; invalidated on edits and sold-out changes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator
from starlette.responses import Response

from api.cache import CatalogCache
from api.context import ApiContext, started
from api.errors import NotFound
from api.routing import Call, Endpoint
from api.schemas import Page, QuerySchema, Schema
from api.services.soldout import SoldOutWatcher
from engine.core.venue import Venue
from engine.store import catalog_repo, events_repo
from engine.store.records import EventRecord

PREFIX = "/api/v1/events"
STATUSES = ("upcoming", "on_sale", "sold_out", "closed")


Sort = Literal["startsAt", "-startsAt", "saleOpensAt", "title", "-title", "createdAt",
               "-createdAt"]


class EventListQuery(QuerySchema):
    q: str | None = Field(None, max_length=100, description="Text in title, description, venue")
    category: str | None = Field(None, max_length=50)
    venue: str | None = Field(None, max_length=100)
    from_: datetime | None = Field(None, alias="from", description="Starts at or after")
    to: datetime | None = Field(None, description="Starts before")
    status: str | None = Field(None, description="Comma-separated: " + ", ".join(STATUSES))
    sort: Sort = "startsAt"
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(20, ge=1, le=100)

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        if value is not None:
            bad = [s for s in value.split(",") if s.strip() not in STATUSES]
            if bad:
                raise ValueError(f"unknown status {bad[0]!r}; use {', '.join(STATUSES)}")
        return value

    @field_validator("from_", "to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class EventSummary(Schema):
    id: str
    title: str
    category: str
    venue_name: str
    starts_at: datetime
    ends_at: datetime | None
    sale_opens_at: datetime
    sale_closes_at: datetime | None
    status: str
    seat_count: int
    standing_count: int


class SaleSettingsOut(Schema):
    hold_ttl_seconds: float
    hold_extension_seconds: float
    hold_max_extensions: int
    hold_max_lifetime_seconds: float
    per_user_limit: int
    admission_rate: float
    active_cap: int
    heartbeat_timeout_seconds: float
    session_ttl_seconds: float


class SectionOut(Schema):
    id: str
    name: str
    seat_count: int
    prices: dict[str, int] = Field(description="Price per grade in this section (KRW)")


class TicketTypeOut(Schema):
    id: str
    name: str
    grade: str
    price: int
    quantity: int


class EventDetail(EventSummary):
    description: str
    shard_count: int
    sale: SaleSettingsOut
    queue_seed_sha256: str = Field(description="Published before the sale opens")
    queue_seed: str | None = Field(description="Revealed once the sale opens")
    sections: list[SectionOut]
    ticket_types: list[TicketTypeOut]


EventPage = Page[EventSummary]


def summary(event: EventRecord, status: str) -> EventSummary:
    return EventSummary(
        id=str(event.id), title=event.title, category=event.category,
        venue_name=event.venue_name, starts_at=event.starts_at, ends_at=event.ends_at,
        sale_opens_at=event.sale_opens_at, sale_closes_at=event.sale_closes_at, status=status,
        seat_count=event.seat_count, standing_count=event.ga_quantity,
    )


def detail(event: EventRecord, status: str, venue: Venue) -> EventDetail:
    s = event.settings
    opened = event.sale_opens_at <= datetime.now(UTC)
    sections = []
    for section in venue.sections:
        prices: dict[str, int] = {}
        for seat in section.seats():
            prices.setdefault(seat.grade, seat.price)
        sections.append(SectionOut(id=section.id, name=section.name,
                                   seat_count=section.seat_count, prices=prices))
    return EventDetail(
        **summary(event, status).model_dump(),
        description=event.description,
        shard_count=event.shard_count,
        sale=SaleSettingsOut(
            hold_ttl_seconds=s.hold_ttl_s, hold_extension_seconds=s.hold_extension_s,
            hold_max_extensions=s.hold_max_extensions,
            hold_max_lifetime_seconds=s.hold_max_lifetime_s, per_user_limit=s.per_user_limit,
            admission_rate=s.admission_rate, active_cap=s.active_cap,
            heartbeat_timeout_seconds=s.heartbeat_timeout_s,
            session_ttl_seconds=s.session_ttl_s),
        queue_seed_sha256=event.queue_seed_hash,
        queue_seed=event.queue_seed if opened else None,
        sections=sections,
        ticket_types=[TicketTypeOut(id=t.id, name=t.name, grade=t.grade, price=t.price,
                                    quantity=t.quantity) for t in venue.ticket_types],
    )


def cache_of(ctx: ApiContext) -> CatalogCache:
    return started(ctx.catalog_cache, "the catalogue cache")


def parse_event_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"no event {raw}") from None


async def list_events(call: Call[ApiContext, None, EventListQuery]) -> Response:
    query = call.query
    key = json.dumps(query.model_dump(mode="json"), sort_keys=True)

    async def load() -> bytes:
        statuses = tuple(s.strip() for s in query.status.split(",")) if query.status else ()
        async with call.ctx.db.acquire() as conn:
            rows, total = await catalog_repo.search_events(conn, catalog_repo.EventFilter(
                q=query.q, category=query.category, venue=query.venue,
                starts_from=query.from_, starts_to=query.to, statuses=statuses,
                sort=query.sort, page=query.page, page_size=query.page_size))
        page = EventPage(items=[summary(e, s) for e, s in rows], total=total,
                         page=query.page, page_size=query.page_size)
        return page.model_dump_json(by_alias=True).encode()

    return _json(await cache_of(call.ctx).get("events", key, load))


async def get_event(call: Call[ApiContext]) -> Response:
    event_id = parse_event_id(call.path["event_id"])

    async def load() -> bytes:
        async with call.ctx.db.acquire() as conn:
            event, status = await catalog_repo.get_event_with_status(conn, event_id)
            venue = await events_repo.load_venue(conn, event_id)
        return detail(event, status, venue).model_dump_json(by_alias=True).encode()

    return _json(await cache_of(call.ctx).get("event", str(event_id), load))


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


async def start(ctx: ApiContext) -> None:
    cache = CatalogCache(ctx.redis, namespace=ctx.settings.namespace,
                         ttl_s=ctx.settings.catalog.event_cache_ttl_s)
    await cache.start()
    ctx.catalog_cache = cache
    ctx.closers.append(cache.close)
    watcher = SoldOutWatcher(ctx, cache)
    await watcher.start()
    ctx.closers.append(watcher.close)


ENDPOINTS = [
    Endpoint("GET", PREFIX, list_events, "Search events", "events", auth="optional",
             query=EventListQuery, response=EventPage),
    Endpoint("GET", f"{PREFIX}/{{event_id}}", get_event, "An event's detail", "events",
             auth="optional", response=EventDetail, errors=(404,)),
]

