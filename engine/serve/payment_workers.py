"""What a Payment replica runs besides its requests: the gateway client behind a circuit
breaker, the saga's recovery worker, the outbox relay and the outbox consumers. Every replica
runs them; leases (sagas), SKIP LOCKED (outbox) and a consumer group (stream) keep them from
doing the same work twice. The breaker's state is published to Redis so the
Reservation service can refuse new reservations fast while the gateway is down
(`engine.payments.breaker_report`)."""

from __future__ import annotations

import logging
import uuid

from api.cache import CatalogCache
from api.context import ApiContext
from engine.background import BackgroundJob, Backoff, Run, stop_all
from engine.payments.breaker import CircuitBreaker
from engine.payments.breaker_report import report_breaker
from engine.payments.toss import TossPaymentsClient
from engine.saga import outbox
from engine.saga.purchase import PurchaseSaga
from engine.store.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)

RECOVER_EVERY_S = 2.0
RELAY_EVERY_S = 0.2
_TROUBLE: tuple[type[Exception], ...] = (*REDIS_ERRORS, OSError)


async def start_payment_workers(ctx: ApiContext) -> None:
    settings = ctx.settings
    if not settings.payments.gateway_url or not settings.payments.secret_key:
        log.warning("no payment gateway configured: payments answer 503")
        return
    # httpx logs every gateway call at INFO; the saga logs what goes wrong, and payment_logs
    # keeps every reply. At a flash sale's rate those lines cost a few % of the replica's CPU.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    breaker = CircuitBreaker(failure_threshold=settings.payments.breaker_failures,
                             reset_after_s=settings.payments.breaker_reset_s)
    client = TossPaymentsClient(settings.payments.gateway_url, settings.payments.secret_key,
                                timeout_s=settings.payments.timeout_s,
                                max_retries=settings.payments.retries, breaker=breaker)
    saga = PurchaseSaga(ctx.db, client, ctx.engine.seats, lease_s=settings.payments.saga_lease_s,
                        answer_within_s=settings.payments.answer_s,
                        acquire_timeout_s=settings.payments.db_acquire_timeout_s)
    ctx.saga = saga
    cache = CatalogCache(ctx.redis, namespace=settings.namespace,
                         ttl_s=settings.catalog.event_cache_ttl_s)
    consumer = f"payments-{uuid.uuid4().hex[:10]}"
    ns = settings.namespace
    jobs = [
        _every(RECOVER_EVERY_S, "saga recovery", saga.recover),
        _every(RELAY_EVERY_S, "outbox relay", lambda: outbox.relay_once(ctx.db, ctx.redis, ns)),
        _every(0.0, "dashboard figures", lambda: outbox.consume_once(
            ctx.redis, ns, "figures", consumer, outbox.figures_handler(ctx.db))),
        _every(0.0, "cache invalidation", lambda: outbox.consume_once(
            ctx.redis, ns, "catalog-cache", consumer, outbox.cache_handler(cache.invalidate))),
        _every(1.0, "breaker report", lambda: report_breaker(ctx.redis, ns, breaker)),
    ]
    for job in jobs:
        job.start()

    async def close() -> None:
        await stop_all(jobs)
        await saga.close(grace_s=2.0)
        await client.aclose()

    ctx.closers.append(close)


def _every(interval_s: float, name: str, run: Run) -> BackgroundJob:
    """Runs at once, then every `interval_s`; a failure adds a second's pause."""
    return BackgroundJob(name, run, every_s=interval_s, wait_first=False,
                         backoff=Backoff.constant(1.0 + interval_s), quiet=_TROUBLE, logger=log)
