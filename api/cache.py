"""The catalogue cache: event listings and details as ready JSON bytes in Redis, shared by
every replica, with the seed's 30-second TTL. Editing an event or a change in whether it is
sold out bumps one version number; every key embeds it, so everything cached before is
ignored at once. Replicas re-read the version in the background, so a request costs one
Redis read on a hit."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable

from engine.background import BackgroundJob
from engine.store.redis_client import REDIS_ERRORS, RedisClient

log = logging.getLogger(__name__)


class CatalogCache:
    def __init__(self, redis: RedisClient, *, namespace: str, ttl_s: float,
                 version_refresh_s: float = 0.25) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:cache"
        self._version_key = f"{self._prefix}:version"
        self._ttl_ms = int(ttl_s * 1000)
        self._version = 0
        self._job = BackgroundJob("catalogue cache version", self._read_version,
                                  every_s=version_refresh_s, logger=log)
        self.hits = 0
        self.misses = 0

    async def start(self) -> None:
        await self._read_version()
        self._job.start()

    async def close(self) -> None:
        await self._job.stop()

    async def get(self, kind: str, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached bytes for (kind, key), loaded and stored on a miss. Redis trouble
        degrades to loading, never to an error."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        redis_key = f"{self._prefix}:{self._version}:{kind}:{digest}"
        try:
            cached: bytes | None = await self._redis.get(redis_key)  # type: ignore[assignment]
        except REDIS_ERRORS as exc:
            log.warning("cache read failed: %s", exc)
            cached = None
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        value = await load()
        try:
            await self._redis.set(redis_key, value, px=self._ttl_ms)
        except REDIS_ERRORS as exc:
            log.warning("cache write failed: %s", exc)
        return value

    async def invalidate(self) -> int:
        """Makes everything cached so far stale, here and (within a refresh) everywhere."""
        self._version = int(await self._redis.incr(self._version_key))
        return self._version

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    async def _read_version(self) -> None:
        try:
            raw = await self._redis.get(self._version_key)
        except REDIS_ERRORS as exc:
            log.warning("cache version read failed: %s", exc)
            return
        self._version = int(raw) if raw is not None else 0
