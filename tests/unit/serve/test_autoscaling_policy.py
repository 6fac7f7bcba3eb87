"""The queue-length autoscaling policy, driven with fake contexts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.serve.autoscaling import ADMITTED, WAITING, LinePolicy, queue_length_policy


@dataclass
class FakeContext:
    current_num_replicas: int = 3
    capacity_adjusted_min_replicas: int = 3
    capacity_adjusted_max_replicas: int = 100
    policy_state: dict[str, Any] = field(default_factory=dict)
    current_time: float | None = 0.0
    aggregated_metrics: dict[str, dict[Any, float]] | None = None
    total_num_requests: float = 0.0


def reporting(waiting: float, *, replicas: int = 3, **kw: Any) -> FakeContext:
    stale = {f"r{n}": waiting * 0.5 for n in range(replicas - 1)}  # older, smaller reports
    return FakeContext(current_num_replicas=replicas,
                       aggregated_metrics={WAITING: {**stale, "fresh": waiting}}, **kw)


def test_a_long_line_scales_out_by_ten_thousand_waiting_users_per_replica() -> None:
    assert queue_length_policy(reporting(9_000))[0] == 3  # the minimum
    assert queue_length_policy(reporting(10_001))[0] == 3
    assert queue_length_policy(reporting(250_000))[0] == 25
    assert queue_length_policy(reporting(5_000_000))[0] == 100  # the maximum


def test_a_drained_line_asks_for_the_minimum_and_serve_applies_the_delay() -> None:
    target, state = queue_length_policy(reporting(0, replicas=40))
    assert target == 3 and state["users"] == 0


def test_requests_in_flight_also_count() -> None:
    ctx = reporting(0, total_num_requests=4_200)
    assert queue_length_policy(ctx)[0] == 9


def test_the_policy_keeps_serves_own_state() -> None:
    _, state = queue_length_policy(reporting(1.0, policy_state={"__decision_counter": -2}))
    assert state == {"__decision_counter": -2, "users": 1.0}


def test_no_reports_keep_the_minimum() -> None:
    assert queue_length_policy(FakeContext(current_num_replicas=3))[0] == 3


def test_the_reservation_policy_follows_admitted_users() -> None:
    ctx = FakeContext(aggregated_metrics={ADMITTED: {"r": 9_000.0}, WAITING: {"r": 1e9}})
    assert LinePolicy(ADMITTED, 2_000)(ctx)[0] == 5


def test_the_policy_class_takes_its_thresholds_from_kwargs() -> None:
    policy = LinePolicy(WAITING, users_per_replica=20, requests_per_replica=1_000)
    assert policy(reporting(61, replicas=1, capacity_adjusted_min_replicas=1))[0] == 4
    with pytest.raises(ValueError, match="metric"):
        LinePolicy("queue_size")
    with pytest.raises(ValueError, match="positive"):
        LinePolicy(WAITING, users_per_replica=0)


class FakeDb:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def acquire(self) -> FakeDb:
        return self

    async def __aenter__(self) -> FakeDb:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def fetch(self, query: str) -> list[dict[str, str]]:
        return [{"id": i} for i in self.ids]


class FakePipeline:
    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values
        self.keys: list[str] = []

    def get(self, key: str) -> None:
        self.keys.append(key)

    async def execute(self) -> list[bytes | None]:
        return [self.values.get(k) for k in self.keys]


class FakeRedis:
    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        assert not transaction  # the keys live in different cluster slots
        return FakePipeline(self.values)


async def test_replicas_report_the_users_in_every_line_on_sale() -> None:
    from engine.actors.config import queue_summary_key
    from engine.core.waiting_room import QueueSummary
    from engine.serve.autoscaling import line_totals
    from engine.store.journal import pack

    def summary(waiting: int, prequeue: int, active: int) -> bytes:
        return pack(QueueSummary(
            version=1, as_of=0.0, phase="open", opens_at=0.0, base=0, next_seq=0,
            waiting=waiting, prequeue=prequeue, active=active, admitted_total=0, rate=1.0,
            seed_commitment="", seed=None, bits=b"").to_list())

    redis = FakeRedis({queue_summary_key("ns", "e1"): summary(12_000, 500, 300),
                       queue_summary_key("ns", "e2"): summary(100, 0, 40)})
    totals = await line_totals(FakeDb(["e1", "e2", "e3"]), redis, "ns")  # e3: no summary yet
    assert totals == {WAITING: 12_600.0, ADMITTED: 340.0}
