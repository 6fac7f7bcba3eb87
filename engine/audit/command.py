"""`tiketi audit --event ID [--json] [--hold-grace S] [--redis-cluster]`: exit 0 when the
event is consistent, 1 when a violation was found, 2 when it could not be audited (bad
arguments or settings, an unknown event, a store out of reach).

On a live sale a purchase in flight (the shard has confirmed, PostgreSQL not yet) can show as
a mismatch; the audit is exact on a quiet event, so run it again before acting on one."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from engine.audit import sources
from engine.audit.checks import AuditResult, audit
from engine.audit.report import format_json, format_text
from engine.local.running import running_engine
from engine.settings import Settings, SettingsError
from engine.store.pool import connect
from engine.store.redis_client import REDIS_ERRORS, connect_redis

EXIT_OK, EXIT_VIOLATIONS, EXIT_UNUSABLE = 0, 1, 2
UnknownEvent = sources.UnknownEvent


async def run_audit(
    database_url: str,
    redis_url: str,
    namespace: str,
    event_id: UUID,
    *,
    hold_grace_s: float = 30.0,
    now: float | None = None,
    redis_cluster: bool = False,
) -> AuditResult:
    """Audits one event; raises `UnknownEvent` if PostgreSQL has no such event.
    `redis_cluster`: `redis_url` names a Redis Cluster."""
    conn = await connect(database_url)
    redis = connect_redis(redis_url, cluster=redis_cluster)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            data = await sources.read_input(conn, redis, namespace, event_id)
    finally:
        await redis.aclose()
        await conn.close()
    return audit(data, now=time.time() if now is None else now, hold_grace_s=hold_grace_s)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _unusable(str(exc))
    database_url, redis_url = store_urls(settings)
    if database_url is None or redis_url is None:
        return _unusable("set DATABASE_URL and REDIS_URL, or run it where `make up` runs "
                         f"(it reads {settings.data_dir / 'engine.json'})")
    try:
        cluster = args.redis_cluster or settings.stores.redis_cluster
        result = asyncio.run(run_audit(database_url, redis_url, settings.namespace, args.event,
                                       hold_grace_s=args.hold_grace, redis_cluster=cluster))
    except UnknownEvent as exc:
        return _unusable(str(exc))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, *REDIS_ERRORS) as exc:
        return _unusable(f"cannot read the stores: {type(exc).__name__}: {exc}")
    print(format_json(result) if args.json else format_text(result))
    return EXIT_OK if result.ok else EXIT_VIOLATIONS


def store_urls(settings: Settings) -> tuple[str | None, str | None]:
    """The configured stores; unset ones are taken from the running engine's description."""
    database_url, redis_url = settings.stores.database_url, settings.stores.redis_url
    if database_url is None or redis_url is None:
        running = running_engine(settings.data_dir)
        database_url = database_url or running.get("database_url")
        redis_url = redis_url or running.get("redis_url")
    return database_url, redis_url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiketi audit",
        description="Check an event's reservations, payments and seat shards for consistency.")
    parser.add_argument("--event", required=True, type=_event_id, help="the event's id (UUID)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--hold-grace", type=_seconds, default=30.0, metavar="S",
                        help="seconds a hold may outlive its expiry before it counts as "
                             "stale (the shard sweeps periodically; default 30)")
    parser.add_argument("--redis-cluster", action="store_true",
                        help="the Redis URL names a Redis Cluster (also set by "
                             "TIKETI_REDIS_CLUSTER=1)")
    return parser


def _event_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an event id: {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def _unusable(message: str) -> int:
    print(f"tiketi audit: {message}", file=sys.stderr)
    return EXIT_UNUSABLE


if __name__ == "__main__":
    raise SystemExit(main())
