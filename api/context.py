"""What a service's handlers reach: one `ApiContext` per replica, built by `engine.serve`,
which also starts what runs beside the requests (the payment workers, the hot-event watcher)
and sets the fields they provide. Every dependency is a typed field: a service's `start` sets
those it needs, and a handler that finds one missing has met a wiring bug."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import asyncpg

from api.audit import AuditLog
from api.ratelimit import RateLimiter
from api.security.tokens import Claims, TokenService
from api.security.verified import VerifiedTokens
from engine.router.queue import QueueRouter
from engine.router.seats import SeatRouter
from engine.settings import Settings
from engine.store.redis_client import RedisClient

if TYPE_CHECKING:
    from api.cache import CatalogCache
    from api.security.tickets import QueueTickets
    from api.services.queue_board import QueueBoard
    from api.services.seatmap import SeatMaps
    from engine.saga.purchase import PurchaseSaga

T = TypeVar("T")


class EngineGateway(Protocol):
    """The engine as the API sees it: an event's seats and queue, and its shards' lifecycle."""

    async def seats(self, event_id: str) -> SeatRouter: ...

    async def queue(self, event_id: str) -> QueueRouter: ...

    async def open_event(self, event_id: str, shard_count: int,
                         generation: int = 0) -> None: ...

    async def close_event(self, event_id: str, shard_count: int,
                          generation: int = 0) -> None: ...


@dataclass
class ApiContext:
    settings: Settings
    tokens: TokenService
    db: asyncpg.Pool
    redis: RedisClient
    engine: EngineGateway
    audit: AuditLog
    limiter: RateLimiter | None = None
    verified: VerifiedTokens | None = None
    queue_tickets: QueueTickets | None = None
    queue_board: QueueBoard | None = None  # the Queue service's
    catalog_cache: CatalogCache | None = None  # the Event service's
    seat_maps: SeatMaps | None = None  # the seat map service's
    saga: PurchaseSaga | None = None  # the Payment service's, when a gateway is configured
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.verified is None:
            self.verified = VerifiedTokens(self.tokens)

    def verify(self, token: str, *, typ: str, audience: str | None = None) -> Claims:
        """Verifies a token, remembering those that passed (see `VerifiedTokens`)."""
        assert self.verified is not None
        return self.verified.verify(token, typ=typ, audience=audience)

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


def started(dependency: T | None, what: str) -> T:
    """A dependency that this replica's wiring should have set up."""
    if dependency is None:
        raise RuntimeError(f"{what} is not set up on this replica")
    return dependency
