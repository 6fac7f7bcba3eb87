"""Serve autoscaling on queue length: the Queue and Reservation deployments scale with the
users waiting in (or admitted from) the events' lines, which replicas report through
`record_autoscaling_stats`, not only with the requests they happen to be serving.

The policy is pure: it reads an `AutoscalingContext`-like object and returns the target
replica count and its state. Scale-up is immediate; scale-down waits until the lower target
has held for `downscale_delay_s`, so a line that drains in bursts does not make replicas flap.
Ray's autoscaler then asks KubeRay for worker pods when the replicas do not fit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

WAITING = "waiting_users"
ADMITTED = "active_users"


class Context(Protocol):
    """The part of `ray.serve.config.AutoscalingContext` the policy reads."""

    current_num_replicas: int
    capacity_adjusted_min_replicas: int
    capacity_adjusted_max_replicas: int
    policy_state: dict[str, Any]
    current_time: float | None

    @property
    def aggregated_metrics(self) -> Mapping[str, Mapping[Any, float]] | None: ...

    @property
    def total_num_requests(self) -> float: ...


def _reported(ctx: Context, metric: str) -> float:
    """Every replica reports the same events' figures: the largest report is the freshest."""
    per_replica = (ctx.aggregated_metrics or {}).get(metric, {})
    return max(per_replica.values(), default=0.0)


def queue_length_policy(ctx: Context, *, users_per_replica: float = 10_000,
                        metric: str = WAITING, requests_per_replica: float = 500,
                        downscale_delay_s: float = 60.0) -> tuple[int, dict[str, Any]]:
    """Replicas for the larger of: the users in line over `users_per_replica`, and the
    requests in flight over `requests_per_replica`; within the deployment's bounds."""
    users = _reported(ctx, metric)
    by_users = math.ceil(users / users_per_replica) if users > 0 else 0
    by_requests = math.ceil(ctx.total_num_requests / requests_per_replica)
    desired = max(by_users, by_requests, ctx.capacity_adjusted_min_replicas)
    desired = min(desired, ctx.capacity_adjusted_max_replicas)
    state = dict(ctx.policy_state)
    now = ctx.current_time or 0.0
    current = ctx.current_num_replicas
    if desired >= current:
        state.pop("lower_since", None)
        return desired, {**state, "users": users}
    since = state.setdefault("lower_since", now)
    if now - since < downscale_delay_s:
        return current, {**state, "users": users}
    state.pop("lower_since", None)
    return desired, {**state, "users": users}


def reservation_policy(ctx: Context, **kw: Any) -> tuple[int, dict[str, Any]]:
    """The Reservation deployment scales with the admitted users, who lock and reserve."""
    return queue_length_policy(ctx, **{"users_per_replica": 2_000, "metric": ADMITTED, **kw})


async def line_totals(db: Any, redis: Any, namespace: str) -> dict[str, float]:
    """Users waiting (and admitted) in the lines of every event on sale, from the summaries
    the queue shards publish to Redis: what a Queue or Reservation replica reports to Serve
    through `record_autoscaling_stats`."""
    from engine.actors.config import queue_summary_key
    from engine.core.waiting_room import QueueSummary
    from engine.store.journal import unpack

    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id FROM events WHERE status IN ('upcoming', 'on_sale', 'sold_out')")
    keys = [queue_summary_key(namespace, str(r["id"])) for r in rows]
    waiting = active = 0
    for raw in await redis.mget(keys) if keys else []:
        if raw is not None:
            summary = QueueSummary.from_list(unpack(raw))
            waiting += summary.waiting + summary.prequeue
            active += summary.active
    return {WAITING: float(waiting), ADMITTED: float(active)}
