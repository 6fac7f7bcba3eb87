"""The gateway's circuit breaker, as every replica sees it: a Payment replica whose breaker is
open says so in Redis (the report lapses a few seconds after it stops), and the Reservation
replicas read it to refuse new reservations fast while the gateway is down."""

from __future__ import annotations

from engine.payments.breaker import BreakerState, CircuitBreaker
from engine.store.redis_client import REDIS_ERRORS, RedisClient

REPORT_LASTS_S = 3


def breaker_key(namespace: str) -> str:
    return f"{namespace}:gateway:breaker"


async def gateway_refusing(redis: RedisClient, namespace: str) -> bool:
    """Whether a Payment replica reported its breaker open in the last few seconds."""
    try:
        return bool(await redis.exists(breaker_key(namespace)))
    except REDIS_ERRORS:
        return False


async def report_breaker(redis: RedisClient, namespace: str, breaker: CircuitBreaker) -> None:
    if breaker.state is BreakerState.OPEN:
        await redis.set(breaker_key(namespace), "open", ex=REPORT_LASTS_S)
