"""Serve autoscaling on queue length, on the local Ray cluster: a Queue deployment with the
line policy grows while an event's line grows, and shrinks back when the line drains."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import asyncpg
import redis.asyncio as aioredis
from ray import serve

from api.catalog import SERVICES_BY_NAME
from engine.serve.apps import application
from engine.serve.autoscaling import WAITING, line_totals
from engine.serve.deploy import replica_env
from tests.e2e.conftest import Engine, OpenEvent
from tests.e2e.test_event_shards import two_sections

PROBE = "autoscaling-probe"
LIVE = ("STARTING", "UPDATING", "RECOVERING", "RUNNING")


def _replicas() -> int:
    app = serve.status().applications.get(PROBE)
    if app is None or "queue" not in app.deployments:
        return 0
    states = app.deployments["queue"].replica_states
    return sum(count for state, count in states.items() if str(state) in LIVE)


async def _until_replicas(want: int, timeout_s: float) -> float:
    started = time.monotonic()
    seen = -1
    while time.monotonic() - started < timeout_s:
        seen = await asyncio.to_thread(_replicas)
        if seen == want:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"the probe has {seen} replicas, not {want}, after {timeout_s} s")


async def _waiting(engine: Engine) -> float:
    pool = await asyncpg.create_pool(engine.database_url, min_size=1, max_size=1)
    redis = aioredis.Redis.from_url(engine.redis_url)
    try:
        return (await line_totals(pool, redis, engine.settings.namespace))[WAITING]
    finally:
        await redis.aclose()
        await pool.close()


async def test_queue_replicas_follow_the_line_up_and_back_down(
    engine: Engine, api: str, open_event: Callable[..., Awaitable[OpenEvent]]
) -> None:
    event = await open_event(two_sections(), admission_rate=0.01, active_cap=1,
                             heartbeat_timeout_s=600.0)
    # Lines other tests left behind count too (every line on sale drives the replicas), so
    # the threshold is set above them: the probe starts at 1 replica whatever they hold.
    per_replica = max(20, int(await _waiting(engine)) + 1)
    autoscale = replace(engine.settings.autoscale, enabled=True, min_replicas=1, max_replicas=3,
                        queue_users=per_replica, upscale_delay_s=0.0, downscale_delay_s=2.0,
                        interval_s=0.5)
    settings = replace(engine.settings, autoscale=autoscale)
    app = application(SERVICES_BY_NAME["queue"], settings, replica_env(settings))
    await asyncio.to_thread(serve.run, app, name=PROBE, route_prefix=f"/{PROBE}")
    try:
        await _until_replicas(1, 60)
        users = [f"autoscale-user-{n}" for n in range(2 * per_replica + 1)]
        for user in users:
            await event.queue.join(user)
        assert (await event.queue.summary()).waiting >= 2 * per_replica
        up_s = await _until_replicas(3, 90)

        for user in users:
            await event.queue.leave(user)
        assert (await event.queue.summary()).waiting == 0
        down_s = await _until_replicas(1, 90)
        print(f"line of {len(users)} (threshold {per_replica}/replica): 1 -> 3 replicas in "
              f"{up_s:.1f} s, back to 1 in {down_s:.1f} s after it drained")
    finally:
        await asyncio.to_thread(serve.delete, PROBE)
