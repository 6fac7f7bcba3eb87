"""What a service's handlers reach: one `ApiContext` per replica, built by `engine.serve`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from api.audit import AuditLog
from api.ratelimit import RateLimiter
from api.security.tokens import Claims, TokenService
from api.security.verified import VerifiedTokens
from engine.settings import Settings
from engine.store.redis_client import RedisClient


class EngineGateway(Protocol):
    """The engine as the API sees it: an event's seats and queue, and its shards' lifecycle."""

    async def seats(self, event_id: str) -> Any: ...  # engine.actors.router.EventSeats

    async def queue(self, event_id: str) -> Any: ...  # engine.actors.router.EventQueue

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
    extras: dict[str, Any] = field(default_factory=dict)
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
