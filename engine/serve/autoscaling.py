"""Serve autoscaling on queue length: the Queue and Reservation deployments scale with the
users waiting in (or admitted from) the events' lines, which replicas report through
`record_autoscaling_stats`, not only with the requests they happen to be serving.

The policy is pure: it reads an `AutoscalingContext`-like object and returns the target
replica count and its state. Serve wraps it with the deployment's `upscale_delay_s` and
`downscale_delay_s` (a higher or lower target must hold that long), so a line that drains in
bursts does not make replicas flap. Ray's autoscaler then asks KubeRay for worker pods when
the replicas do not fit."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from engine.actors.config import queue_summary_key
from engine.core.waiting_room import QueueSummary
from engine.store.journal import unpack
from engine.store.queries import load_queries

WAITING = "waiting_users"
ADMITTED = "active_users"
SQL = load_queries("engine.serve", "autoscaling.sql")


class Context(Protocol):
    """The part of `ray.serve.config.AutoscalingContext` the policy reads."""

    current_num_replicas: int
    capacity_adjusted_min_replicas: int
    capacity_adjusted_max_replicas: int
    policy_state: dict[str, Any]

    @property
    def aggregated_metrics(self) -> Mapping[str, Mapping[Any, float]] | None: ...

    @property
    def total_num_requests(self) -> float: ...


def _reported(ctx: Context, metric: str) -> float:
    """Every replica reports the same events' figures: the largest report is the freshest."""
    per_replica = (ctx.aggregated_metrics or {}).get(metric, {})
    return max(per_replica.values(), default=0.0)


def queue_length_policy(ctx: Context, *, users_per_replica: float = 10_000,
                        metric: str = WAITING,
                        requests_per_replica: float = 500) -> tuple[int, dict[str, Any]]:
    """Replicas for the larger of: the users in line over `users_per_replica`, and the
    requests in flight over `requests_per_replica`; within the deployment's bounds. Serve
    applies the deployment's upscale and downscale delays to what this returns."""
    users = _reported(ctx, metric)
    by_users = math.ceil(users / users_per_replica) if users > 0 else 0
    by_requests = math.ceil(ctx.total_num_requests / requests_per_replica)
    desired = max(by_users, by_requests, ctx.capacity_adjusted_min_replicas)
    desired = min(desired, ctx.capacity_adjusted_max_replicas)
    return desired, {**ctx.policy_state, "users": users}


class LinePolicy:
    """`queue_length_policy` as the class Serve instantiates once per deployment with the
    config's `policy_kwargs` (so thresholds come from settings, not code)."""

    def __init__(self, metric: str = WAITING, users_per_replica: float = 10_000,
                 requests_per_replica: float = 500) -> None:
        if metric not in (WAITING, ADMITTED):
            raise ValueError(f"unknown line metric {metric!r}")
        if users_per_replica <= 0 or requests_per_replica <= 0:
            raise ValueError("users and requests per replica must be positive")
        self.metric = metric
        self.users_per_replica = users_per_replica
        self.requests_per_replica = requests_per_replica

    def __call__(self, ctx: Context) -> tuple[int, dict[str, Any]]:
        return queue_length_policy(ctx, users_per_replica=self.users_per_replica,
                                   metric=self.metric,
                                   requests_per_replica=self.requests_per_replica)


POLICY = f"{__name__}:LinePolicy"


def autoscaling_config(metric: str, users_per_replica: int, *, min_replicas: int,
                       max_replicas: int, requests_per_replica: int, upscale_delay_s: float,
                       downscale_delay_s: float, interval_s: float) -> dict[str, Any]:
    """A deployment's `autoscaling_config`: the line policy, its bounds and delays; replicas
    report every `interval_s` and the policy sees the average of the last five reports."""
    return {
        "min_replicas": min_replicas,
        "max_replicas": max_replicas,
        "upscale_delay_s": upscale_delay_s,
        "downscale_delay_s": downscale_delay_s,
        "metrics_interval_s": interval_s,
        "look_back_period_s": interval_s * 5,
        "policy": {"policy_function": POLICY,
                   "policy_kwargs": {"metric": metric, "users_per_replica": users_per_replica,
                                     "requests_per_replica": requests_per_replica}},
    }


async def line_summaries(redis: Any, namespace: str, event_ids: Sequence[str]
                         ) -> list[QueueSummary | None]:
    """The summaries the events' queue shards last published to Redis (None: none yet)."""
    # One GET per line, not MGET: each summary key has its own hash tag (Redis Cluster slot).
    pipe = redis.pipeline(transaction=False)
    for event_id in event_ids:
        pipe.get(queue_summary_key(namespace, event_id))
    raws = await pipe.execute() if event_ids else []
    return [None if raw is None else QueueSummary.from_list(unpack(raw)) for raw in raws]


async def line_totals(db: Any, redis: Any, namespace: str) -> dict[str, float]:
    """Users waiting (and admitted) in the lines of every event on sale, from the summaries
    the queue shards publish to Redis: what a Queue or Reservation replica reports to Serve
    through `record_autoscaling_stats`."""
    async with db.acquire() as conn:
        rows = await SQL.lines_open.fetch(conn)
    waiting = active = 0
    for summary in await line_summaries(redis, namespace, [str(r["id"]) for r in rows]):
        if summary is not None:
            waiting += summary.waiting + summary.prequeue
            active += summary.active
    return {WAITING: float(waiting), ADMITTED: float(active)}
