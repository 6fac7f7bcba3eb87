"""Admin service: the dashboard, events (create with layout and sale settings, edit, delete)
and every reservation. Administrators only. The event changes are `engine.saga.events_admin`'s
use cases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator
from starlette.responses import Response

from api.context import ApiContext
from api.routing import Call, Endpoint, path_uuid
from api.schemas import Page, PageQuery, Schema
from api.services.events import EventDetail, detail
from api.services.reservations import ReservationOut, reservation_out, statuses_of
from engine.core.ids import seat_id
from engine.core.stadium import build_stadium
from engine.core.venue import Row, Seat, Section, TicketType, Venue
from engine.saga.events_admin import LIVE, EventAdmin, EventChanges, EventView, check_schedule
from engine.store import catalog_repo, reservations_repo
from engine.store.records import EventRecord, SaleSettings

PREFIX = "/api/v1/admin"
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.]{1,24}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class RowIn(Schema):
    label: Ident
    seats: int = Field(ge=1, le=500)
    grade: Ident
    price: int = Field(ge=0, le=100_000_000)
    x: float = 0.0
    y: float = 0.0
    pitch: float = Field(0.55, gt=0, le=10)
    first_number: int = Field(1, ge=0, le=10_000)


class SectionIn(Schema):
    id: Ident
    name: Text
    rows: list[RowIn] = Field(min_length=1, max_length=500)


class TicketTypeIn(Schema):
    id: Ident
    name: Text
    grade: Ident
    price: int = Field(ge=0, le=100_000_000)
    quantity: int = Field(ge=1, le=1_000_000)


class StadiumIn(Schema):
    kind: Literal["stadium"] = "stadium"
    floor_blocks: int = Field(6, ge=0, le=30)
    lower_sections: int = Field(24, ge=0, le=120)
    upper_sections: int = Field(28, ge=0, le=160)
    standing: int = Field(3_000, ge=0, le=100_000)


class LayoutIn(Schema):
    """Explicit sections and rows (seats numbered from `firstNumber` along x), or a template."""

    name: Text
    focal: tuple[float, float] = (0.0, 0.0)
    sections: list[SectionIn] = Field(default_factory=list, max_length=500)
    ticket_types: list[TicketTypeIn] = Field(default_factory=list, max_length=50)
    template: StadiumIn | None = None

    @model_validator(mode="after")
    def _something(self) -> LayoutIn:
        if self.template is None and not self.sections and not self.ticket_types:
            raise ValueError("a layout needs sections, ticket types or a template")
        if self.template is not None and (self.sections or self.ticket_types):
            raise ValueError("give a template or explicit sections, not both")
        return self

    def venue(self) -> Venue:
        if self.template is not None:
            t = self.template
            return build_stadium(self.name, floor_blocks=t.floor_blocks,
                                 lower_sections=t.lower_sections,
                                 upper_sections=t.upper_sections, standing=t.standing)
        sections = []
        for s in self.sections:
            rows = []
            for r in s.rows:
                seats = tuple(
                    Seat(seat_id(s.id, r.label, r.first_number + k), s.id, r.label,
                         r.first_number + k, r.grade, r.price, x=r.x + k * r.pitch, y=r.y)
                    for k in range(r.seats))
                rows.append(Row(r.label, seats))
            sections.append(Section(s.id, s.name, tuple(rows)))
        types = tuple(TicketType(t.id, t.name, t.grade, t.price, t.quantity)
                      for t in self.ticket_types)
        return Venue(self.name, tuple(sections), types, self.focal[0], self.focal[1])


class SaleIn(Schema):
    hold_ttl_seconds: float = Field(600.0, ge=10, le=86_400)
    hold_extension_seconds: float = Field(300.0, ge=0, le=86_400)
    hold_max_extensions: int = Field(2, ge=0, le=20)
    hold_max_lifetime_seconds: float = Field(1_800.0, ge=10, le=172_800)
    per_user_limit: int = Field(4, ge=1, le=50)
    admission_rate: float = Field(50.0, gt=0, le=100_000)
    active_cap: int = Field(1_000, ge=1, le=10_000_000)
    heartbeat_timeout_seconds: float = Field(30.0, ge=5, le=3_600)
    session_ttl_seconds: float = Field(600.0, ge=30, le=86_400)

    def settings(self) -> SaleSettings:
        return SaleSettings(
            hold_ttl_s=self.hold_ttl_seconds, hold_extension_s=self.hold_extension_seconds,
            hold_max_extensions=self.hold_max_extensions,
            hold_max_lifetime_s=self.hold_max_lifetime_seconds,
            per_user_limit=self.per_user_limit, admission_rate=self.admission_rate,
            active_cap=self.active_cap, heartbeat_timeout_s=self.heartbeat_timeout_seconds,
            session_ttl_s=self.session_ttl_seconds)


class EventIn(Schema):
    title: Text
    description: str = Field("", max_length=10_000)
    category: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    starts_at: datetime
    ends_at: datetime | None = None
    sale_opens_at: datetime
    sale_closes_at: datetime | None = None
    layout: LayoutIn
    sale: SaleIn = Field(default_factory=SaleIn)
    shard_count: int = Field(2, ge=1, le=16)
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{3,60}$")] | None = None

    @model_validator(mode="after")
    def _order(self) -> EventIn:
        check_schedule(self.starts_at, self.ends_at, self.sale_opens_at, self.sale_closes_at)
        if self.sale.hold_max_lifetime_seconds < self.sale.hold_ttl_seconds:
            raise ValueError("holdMaxLifetimeSeconds must be at least holdTtlSeconds")
        return self


class EventUpdate(Schema):
    title: Text | None = None
    description: str | None = Field(None, max_length=10_000)
    category: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    sale_opens_at: datetime | None = None
    sale_closes_at: datetime | None = None
    sale: SaleIn | None = None
    status: Literal["upcoming", "closed", "cancelled"] | None = None

    def changes(self) -> EventChanges:
        return EventChanges(
            title=self.title, description=self.description, category=self.category,
            starts_at=self.starts_at, ends_at=self.ends_at, sale_opens_at=self.sale_opens_at,
            sale_closes_at=self.sale_closes_at, status=self.status,
            sale=None if self.sale is None else self.sale.settings())


class QueueStats(Schema):
    phase: str
    waiting: int
    prequeue: int
    active: int
    admitted_total: int
    admission_rate: float


class SeatStats(Schema):
    capacity: int
    available: int
    held: int
    sold: int
    holds: int
    sales: int


class SalesFigures(Schema):
    """Counted from the outbox's domain events (each once), as they are relayed."""

    reservations_created: int = 0
    payments_completed: int = 0
    payments_failed: int = 0
    reservations_cancelled: int = 0
    revenue: int = 0
    refunded: int = 0
    sold_out_at: datetime | None = None


class EventStats(Schema):
    event_id: str
    title: str
    status: str
    queue: QueueStats | None
    seats: SeatStats | None
    reservations: dict[str, int]
    revenue: int
    figures: SalesFigures


class DashboardQuery(PageQuery):
    event_id: UUID | None = None


class ReservationsQuery(PageQuery):
    event_id: UUID | None = None
    user_id: UUID | None = None
    status: str | None = None
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None


StatsPage = Page[EventStats]
AdminReservationPage = Page[ReservationOut]


async def _stats(ctx: ApiContext, event: EventRecord, status: str,
                 money: dict[str, int], figures: SalesFigures) -> EventStats:
    queue_stats = seat_stats = None
    if status in LIVE:
        seats = await ctx.engine.seats(str(event.id))
        queue = await ctx.engine.queue(str(event.id))
        availability, s = await asyncio.gather(seats.availability(), queue.summary())
        queue_stats = QueueStats(phase=s.phase, waiting=s.waiting, prequeue=s.prequeue,
                                 active=s.active, admitted_total=s.admitted_total,
                                 admission_rate=round(s.rate, 2))
        seat_stats = SeatStats(**availability["totals"])
    reservations = {k: v for k, v in money.items() if k != "revenue"}
    return EventStats(event_id=str(event.id), title=event.title, status=status,
                      queue=queue_stats, seats=seat_stats, reservations=reservations,
                      revenue=money.get("revenue", 0), figures=figures)


async def dashboard(call: Call[ApiContext, None, DashboardQuery]) -> StatsPage:
    query = call.query
    async with call.ctx.db.acquire() as conn:
        if query.event_id is not None:
            rows = [await catalog_repo.get_event_with_status(conn, query.event_id)]
            total = 1
        else:
            rows, total = await catalog_repo.search_events(conn, catalog_repo.EventFilter(
                sort="-startsAt", page=query.page, page_size=query.page_size))
        money = await catalog_repo.revenue(conn, [e.id for e, _ in rows])
        figures = await catalog_repo.figures(conn, [e.id for e, _ in rows])
    items = await asyncio.gather(*(
        _stats(call.ctx, e, s, money[e.id], SalesFigures(**figures.get(e.id, {})))
        for e, s in rows))
    return StatsPage(items=list(items), total=total, page=query.page,
                     page_size=query.page_size)


def _admin(ctx: ApiContext) -> EventAdmin:
    version_key = f"{ctx.settings.namespace}:cache:version"

    async def catalog_changed() -> None:
        await ctx.redis.incr(version_key)

    return EventAdmin(ctx.db, ctx.engine, catalog_changed)


def _detail(view: EventView) -> EventDetail:
    return detail(view.event, view.status, view.venue)


async def create(call: Call[ApiContext, EventIn]) -> EventDetail:
    body = call.body
    return _detail(await _admin(call.ctx).create(
        title=body.title, venue=body.layout.venue(), category=body.category,
        starts_at=body.starts_at, sale_opens_at=body.sale_opens_at, ends_at=body.ends_at,
        sale_closes_at=body.sale_closes_at, shard_count=body.shard_count,
        settings=body.sale.settings(), slug=body.slug, description=body.description))


async def update(call: Call[ApiContext, EventUpdate]) -> EventDetail:
    event_id = path_uuid(call, "event_id", "event")
    return _detail(await _admin(call.ctx).update(event_id, call.body.changes()))


async def delete(call: Call[ApiContext]) -> Response:
    await _admin(call.ctx).delete(path_uuid(call, "event_id", "event"))
    return Response(status_code=204)


async def reservations(call: Call[ApiContext, None, ReservationsQuery]
                       ) -> AdminReservationPage:
    query = call.query
    created_from = query.from_.replace(tzinfo=query.from_.tzinfo or UTC) if query.from_ else None
    created_to = query.to.replace(tzinfo=query.to.tzinfo or UTC) if query.to else None
    async with call.ctx.db.acquire() as conn:
        rows, total = await reservations_repo.list_reservations(
            conn, user_id=query.user_id, event_id=query.event_id,
            statuses=statuses_of(query.status), created_from=created_from,
            created_to=created_to, page=query.page, page_size=query.page_size)
    return AdminReservationPage(items=[reservation_out(r) for r in rows], total=total,
                                page=query.page, page_size=query.page_size)


ENDPOINTS = [
    Endpoint("GET", f"{PREFIX}/dashboard/stats", dashboard,
             "Per event: queue, admissions, holds, sales, revenue, admission rate", "admin",
             auth="admin", query=DashboardQuery, response=StatsPage, errors=(404,)),
    Endpoint("POST", f"{PREFIX}/events", create,
             "Create an event with its layout and sale settings (starts its shards)", "admin",
             auth="admin", body=EventIn, response=EventDetail, status=201, errors=(409,)),
    Endpoint("PUT", f"{PREFIX}/events/{{event_id}}", update,
             "Edit an event; sale settings reach its running shards", "admin", auth="admin",
             body=EventUpdate, response=EventDetail, errors=(404, 409)),
    Endpoint("DELETE", f"{PREFIX}/events/{{event_id}}", delete,
             "Delete an event (refused while it has holds or sales)", "admin", auth="admin",
             status=204, errors=(404, 409)),
    Endpoint("GET", f"{PREFIX}/reservations", reservations, "Search every reservation", "admin",
             auth="admin", query=ReservationsQuery, response=AdminReservationPage),
]

