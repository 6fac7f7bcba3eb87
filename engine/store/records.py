"""What the repositories take and return: frozen dataclasses, no database types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from engine.core.inventory import HoldPolicy
from engine.core.reservation import ReservationStatus
from engine.core.waiting_room import QueuePolicy

EVENT_STATUSES = ("draft", "upcoming", "on_sale", "sold_out", "closed", "cancelled")
USER_ROLES = ("user", "admin")


@dataclass(frozen=True)
class SaleSettings:
    hold_ttl_s: float = 600.0
    hold_extension_s: float = 300.0
    hold_max_extensions: int = 2
    hold_max_lifetime_s: float = 1800.0
    per_user_limit: int = 4
    admission_rate: float = 50.0
    active_cap: int = 1000
    heartbeat_timeout_s: float = 30.0
    session_ttl_s: float = 600.0

    def hold_policy(self) -> HoldPolicy:
        return HoldPolicy(
            ttl=self.hold_ttl_s,
            extension=self.hold_extension_s,
            max_extensions=self.hold_max_extensions,
            max_lifetime=self.hold_max_lifetime_s,
            user_limit=self.per_user_limit,
        )

    def queue_policy(self) -> QueuePolicy:
        return QueuePolicy(
            admission_rate=self.admission_rate,
            active_cap=self.active_cap,
            heartbeat_timeout=self.heartbeat_timeout_s,
            session_ttl=self.session_ttl_s,
        )


@dataclass(frozen=True)
class NewEvent:
    title: str
    category: str
    venue_name: str
    starts_at: datetime
    sale_opens_at: datetime
    shard_count: int
    queue_seed_hash: str
    queue_seed: str
    settings: SaleSettings = field(default_factory=SaleSettings)
    description: str = ""
    slug: str | None = None
    ends_at: datetime | None = None
    sale_closes_at: datetime | None = None
    status: str = "upcoming"


@dataclass(frozen=True)
class EventRecord:
    id: UUID
    slug: str | None
    title: str
    description: str
    category: str
    venue_name: str
    starts_at: datetime
    ends_at: datetime | None
    sale_opens_at: datetime
    sale_closes_at: datetime | None
    status: str
    settings: SaleSettings
    shard_count: int
    queue_seed_hash: str
    queue_seed: str | None
    seat_count: int
    ga_quantity: int
    created_at: datetime
    updated_at: datetime
    version: int
    plan_generation: int = 0


@dataclass(frozen=True)
class ItemSpec:
    shard: int
    hold_id: str
    price: int
    seat_id: str | None = None
    ticket_type_id: str | None = None
    quantity: int = 1


@dataclass(frozen=True)
class ReservationItem:
    id: int
    reservation_id: UUID
    event_id: UUID
    shard: int
    hold_id: str
    seat_id: str | None
    ticket_type_id: str | None
    quantity: int
    price: int
    active: bool


@dataclass(frozen=True)
class ReservationRecord:
    id: UUID
    user_id: UUID
    event_id: UUID
    status: ReservationStatus
    total_amount: int
    currency: str
    idempotency_key: str | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    items: tuple[ReservationItem, ...]


@dataclass(frozen=True)
class UserRecord:
    id: UUID
    email: str
    name: str
    role: str
    password_hash: str = field(repr=False)
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
