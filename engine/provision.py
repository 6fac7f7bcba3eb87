"""Creating events: the shell's side of it (secret queue seed, shard count, demo event)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg

from engine.core.stadium import build_stadium
from engine.core.venue import Venue
from engine.store import events_repo
from engine.store.records import EventRecord, NewEvent, SaleSettings

DEMO_SLUG = "demo-stadium"


def new_queue_seed() -> tuple[str, str]:
    """A secret seed for the pre-queue shuffle and its SHA-256, published before opening."""
    seed = secrets.token_hex(32)
    return seed, hashlib.sha256(bytes.fromhex(seed)).hexdigest()


async def create_event(
    conn: asyncpg.Connection,
    *,
    title: str,
    venue: Venue,
    category: str,
    starts_at: datetime,
    sale_opens_at: datetime,
    shard_count: int,
    settings: SaleSettings | None = None,
    slug: str | None = None,
    description: str = "",
    ends_at: datetime | None = None,
    sale_closes_at: datetime | None = None,
) -> EventRecord:
    seed, commitment = new_queue_seed()
    new = NewEvent(
        title=title,
        category=category,
        venue_name=venue.name,
        starts_at=starts_at,
        sale_opens_at=sale_opens_at,
        shard_count=shard_count,
        queue_seed_hash=commitment,
        queue_seed=seed,
        settings=settings or SaleSettings(),
        description=description,
        slug=slug,
        ends_at=ends_at,
        sale_closes_at=sale_closes_at,
    )
    return await events_repo.create_event(conn, new, venue)


async def ensure_demo_event(
    conn: asyncpg.Connection, *, shard_count: int, opens_in: timedelta = timedelta(minutes=1)
) -> tuple[EventRecord, bool]:
    """The demo concert in a 47,400-seat stadium; created on first start. (event, created)"""
    existing = await events_repo.find_event_by_slug(conn, DEMO_SLUG)
    if existing is not None:
        return existing, False
    now = datetime.now(UTC).replace(microsecond=0)
    event = await create_event(
        conn,
        title="TIKETI Live: Stadium Tour (demo)",
        venue=build_stadium(),
        category="concert",
        starts_at=now + timedelta(days=30),
        sale_opens_at=now + opens_in,
        shard_count=shard_count,
        settings=SaleSettings(admission_rate=200.0, active_cap=5_000),
        slug=DEMO_SLUG,
        description="A flash-sale rehearsal: a top-tier concert opening in a stadium.",
    )
    return event, True
