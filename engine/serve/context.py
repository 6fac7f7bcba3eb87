"""Builds a replica's `ApiContext`: database pool, Redis, token service, rate limiter, audit
log and engine gateway, all from the settings."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from api.audit import AuditLog
from api.context import ApiContext
from api.ratelimit import RateLimiter
from api.security.keys import SigningKey, load_signing_key
from api.security.tickets import QueueTickets
from api.security.tokens import TokenService
from engine.serve.gateway import RayEngine
from engine.settings import Settings
from engine.store.pool import create_pool
from engine.store.redis_client import connect_redis


def signing_key(settings: Settings, *, generate: bool = False) -> SigningKey:
    """The RS256 key: from the setting, the file, or (when `generate`) the data directory."""
    security = settings.security
    return load_signing_key(
        private_pem=security.jwt_private_key,
        private_key_file=security.jwt_private_key_file,
        generate_into=settings.data_dir / "keys" if generate or (
            security.jwt_private_key is None and security.jwt_private_key_file is None) else None,
    )


async def open_context(settings: Settings, *, pool_size: int = 10) -> ApiContext:
    stores = settings.stores
    if not stores.database_url or not stores.redis_url:
        raise ValueError("replicas need DATABASE_URL and REDIS_URL")
    pool = await create_pool(stores.database_url, min_size=1, max_size=pool_size)
    redis = connect_redis(stores.redis_url, cluster=stores.redis_cluster)
    key = signing_key(settings)
    tokens = TokenService(signing=key, verification=[key.verification])
    limiter = RateLimiter(redis, limit=settings.security.rate_limit_per_min,
                          namespace=settings.namespace)
    await limiter.start()
    audit = AuditLog(pool)
    await audit.start()
    tickets = QueueTickets.derived_from(key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ApiContext(settings=settings, tokens=tokens, db=pool, redis=redis,
                     engine=RayEngine(settings, pool), audit=audit, limiter=limiter,
                     queue_tickets=tickets)

    async def close() -> None:
        await limiter.close()
        await audit.close()
        await redis.aclose()
        await pool.close()

    ctx.closers.append(close)
    return ctx
