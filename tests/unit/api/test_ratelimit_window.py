"""The sliding-window decisions of `api.ratelimit.RateLimiter`, on a manual clock without Redis."""

from __future__ import annotations

from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from api.ratelimit import Decision, RateLimiter
from engine.core.clock import ManualClock

LIMIT = 100
WINDOW_S = 60.0
WINDOW_START = 28_333_334 * WINDOW_S


class NoRedis:
    """Stands in for the client: deciding must not touch it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the limiter used Redis.{name} outside a sync")


def make_limiter(clock: ManualClock, limit: int = LIMIT) -> RateLimiter:
    return RateLimiter(
        cast(aioredis.Redis, NoRedis()), limit=limit, window_s=WINDOW_S, clock=clock.now
    )


def admit_until_refused(limiter: RateLimiter, subject: str) -> int:
    admitted = 0
    while limiter.hit(subject).allowed:
        admitted += 1
        assert admitted <= 3 * LIMIT, "the limiter never refuses"
    return admitted


def test_the_101st_request_in_a_window_is_refused_until_retry_after() -> None:
    clock = ManualClock(WINDOW_START + 15)
    limiter = make_limiter(clock)

    assert all(limiter.hit("user:a").allowed for _ in range(LIMIT))
    refused = limiter.hit("user:a")

    # The estimate first fits one more at 0.6 s into the next window: 100 * (1 - 0.01) = 99.
    assert refused == Decision(allowed=False, limit=LIMIT, remaining=0, retry_after_s=46)
    clock.advance(45)
    assert not limiter.hit("user:a").allowed
    clock.advance(1)
    assert limiter.hit("user:a").allowed


@pytest.mark.parametrize(
    ("limit", "previous", "offset_s"),
    [
        (100, 0, 0.0),
        (100, 0, 59.5),
        (100, 100, 0.0),
        (100, 100, 15.0),
        (100, 40, 30.0),
        (100, 100, 59.9),
        (1, 0, 10.0),
        (1, 1, 10.0),
        (7, 5, 33.3),
    ],
)
def test_retry_after_is_the_first_whole_second_that_admits(
    limit: int, previous: int, offset_s: float
) -> None:
    clock = ManualClock(WINDOW_START)
    limiter = make_limiter(clock, limit)
    for _ in range(previous):
        assert limiter.hit("user:a").allowed
    clock.set(WINDOW_START + WINDOW_S + offset_s)
    admit_until_refused(limiter, "user:a")
    refused = limiter.hit("user:a")
    start = clock.now()

    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after_s >= 1
    clock.set(start + refused.retry_after_s - 1)
    assert refused.retry_after_s == 1 or not limiter.hit("user:a").allowed
    clock.set(start + refused.retry_after_s)
    assert limiter.hit("user:a").allowed


def test_requests_are_allowed_again_in_proportion_as_the_window_slides() -> None:
    clock = ManualClock(WINDOW_START)
    limiter = make_limiter(clock)
    assert admit_until_refused(limiter, "user:a") == LIMIT

    clock.set(WINDOW_START + WINDOW_S + 15)
    assert admit_until_refused(limiter, "user:a") == 25
    clock.set(WINDOW_START + WINDOW_S + 30)
    assert admit_until_refused(limiter, "user:a") == 25
    clock.set(WINDOW_START + WINDOW_S + 45)
    assert admit_until_refused(limiter, "user:a") == 25
    clock.set(WINDOW_START + 2 * WINDOW_S)
    assert admit_until_refused(limiter, "user:a") == 25
    clock.set(WINDOW_START + 4 * WINDOW_S)
    assert admit_until_refused(limiter, "user:a") == LIMIT


def test_refused_requests_do_not_count() -> None:
    clock = ManualClock(WINDOW_START)
    limiter = make_limiter(clock)
    assert admit_until_refused(limiter, "user:a") == LIMIT
    for _ in range(500):
        clock.advance(0.1)
        assert not limiter.hit("user:a").allowed

    clock.set(WINDOW_START + WINDOW_S + 30)
    assert admit_until_refused(limiter, "user:a") == 50


def test_subjects_are_independent() -> None:
    clock = ManualClock(WINDOW_START + 5)
    limiter = make_limiter(clock)
    assert admit_until_refused(limiter, "user:a") == LIMIT

    assert limiter.hit("user:b") == Decision(True, LIMIT, LIMIT - 1, 0)
    assert limiter.hit("ip:203.0.113.7") == Decision(True, LIMIT, LIMIT - 1, 0)
    assert not limiter.hit("user:a").allowed
    assert admit_until_refused(limiter, "user:b") == LIMIT - 1


def test_remaining_decreases_with_each_admitted_request() -> None:
    clock = ManualClock(WINDOW_START + 5)
    limiter = make_limiter(clock)

    decisions = [limiter.hit("user:a") for _ in range(LIMIT)]

    assert [d.remaining for d in decisions] == list(range(LIMIT - 1, -1, -1))
    assert all(d.allowed and d.limit == LIMIT and d.retry_after_s == 0 for d in decisions)
    assert limiter.hit("user:a").remaining == 0


def test_remaining_counts_the_weighted_previous_window() -> None:
    clock = ManualClock(WINDOW_START)
    limiter = make_limiter(clock)
    for _ in range(LIMIT):
        limiter.hit("user:a")
    clock.set(WINDOW_START + WINDOW_S + 30)

    assert limiter.hit("user:a").remaining == 49
    assert limiter.hit("user:a").remaining == 48


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": -5},
        {"window_s": 0.0},
        {"window_s": -1.0},
        {"window_s": float("nan")},
        {"sync_interval_s": 0.0},
        {"sync_interval_s": -0.2},
        {"sync_interval_s": float("nan")},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(cast(aioredis.Redis, NoRedis()), **kwargs)
