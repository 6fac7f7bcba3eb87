"""The hot-event watcher each Queue replica runs (`TIKETI_HOT_EVENTS`): every few seconds it
reads the lines of the sales still to open, and widens the seat plan of any whose line
outgrows its shards (`engine.core.hot_events`). Replicas race harmlessly: the re-plan takes
the event's row lock, and the second finds the plan already wide enough."""

from __future__ import annotations

import logging

import asyncpg

from api.context import ApiContext
from engine.actors.replan import widen_seat_plan
from engine.background import BackgroundJob, Backoff
from engine.core.hot_events import seat_shards_for
from engine.serve.autoscaling import line_summaries
from engine.serve.gateway import RayEngine
from engine.settings import Settings
from engine.store import events_repo
from engine.store.events_repo import NotReplannable
from engine.store.records import EventRecord
from engine.store.redis_client import RedisClient

log = logging.getLogger(__name__)

CHECK_EVERY_S = 2.0


async def widen_hot_events(db: asyncpg.Pool, redis: RedisClient, engine: RayEngine,
                           settings: Settings) -> list[EventRecord]:
    """One round: returns the events it re-planned."""
    hot = settings.hot_events
    async with db.acquire() as conn:
        upcoming = await events_repo.upcoming_lines(conn, lead_s=hot.reshard_lead_s)
    summaries = await line_summaries(redis, settings.namespace,
                                     [str(event.id) for event, _ in upcoming])
    widened = []
    for (event, units), summary in zip(upcoming, summaries, strict=True):
        if summary is None:
            continue
        wanted = seat_shards_for(summary.waiting + summary.prequeue, current=event.shard_count,
                                 units=units, users_per_shard=hot.users_per_seat_shard,
                                 max_shards=hot.max_seat_shards)
        if wanted <= event.shard_count:
            continue
        try:
            new = await widen_seat_plan(db, engine.directory, redis, event.id, wanted,
                                        lead_s=hot.reshard_lead_s)
        except NotReplannable as exc:
            log.info("hot event %s left as it is: %s", event.id, exc)
            continue
        if new is not None:
            engine.forget(str(event.id))
            widened.append(new)
    return widened


async def start_hot_event_watcher(ctx: ApiContext) -> None:
    engine = ctx.engine
    if not ctx.settings.hot_events.enabled or not isinstance(engine, RayEngine):
        return
    job = BackgroundJob("hot-event round",
                        lambda: widen_hot_events(ctx.db, ctx.redis, engine, ctx.settings),
                        every_s=CHECK_EVERY_S, backoff=Backoff.constant(CHECK_EVERY_S),
                        logger=log)
    job.start()
    ctx.closers.append(job.stop)
