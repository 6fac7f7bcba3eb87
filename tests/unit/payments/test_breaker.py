from __future__ import annotations

import asyncio

import pytest

from engine.core.clock import ManualClock
from engine.payments.breaker import BreakerOpen, BreakerState, CircuitBreaker


def make_breaker(clock: ManualClock, *, threshold: int = 3, trials: int = 1) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=threshold, reset_after_s=10.0, half_open_max_calls=trials, clock=clock.now
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.allow()
        breaker.record_failure()


def test_closed_lets_calls_through_until_threshold_consecutive_failures() -> None:
    breaker = make_breaker(ManualClock())
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker = make_breaker(ManualClock())
    fail(breaker, 2)
    breaker.allow()
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_open_refuses_with_the_time_left() -> None:
    clock = ManualClock(100.0)
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(4.0)
    with pytest.raises(BreakerOpen) as refused:
        breaker.allow()
    assert refused.value.retry_after_s == pytest.approx(6.0)


def test_open_turns_half_open_after_reset_time() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(9.99)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.01)
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_open_admits_at_most_the_trial_calls() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock, trials=2)
    fail(breaker, 3)
    clock.advance(10.0)
    breaker.allow()
    breaker.allow()
    with pytest.raises(BreakerOpen):
        breaker.allow()


def test_a_success_in_half_open_closes() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(10.0)
    breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, 2)  # the failure count starts afresh
    assert breaker.state is BreakerState.CLOSED


def test_a_failure_in_half_open_reopens_for_the_full_reset_time() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(10.0)
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    clock.advance(9.0)
    with pytest.raises(BreakerOpen) as refused:
        breaker.allow()
    assert refused.value.retry_after_s == pytest.approx(1.0)


def test_results_of_calls_started_before_it_opened_are_ignored_while_open() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    breaker.record_success()
    assert breaker.state is BreakerState.OPEN
    clock.advance(5.0)
    breaker.record_failure()
    clock.advance(5.0)
    assert breaker.state is BreakerState.HALF_OPEN


async def test_call_counts_only_chosen_errors_as_failures() -> None:
    breaker = make_breaker(ManualClock(), threshold=1)

    async def refuse() -> None:
        raise KeyError("card rejected")

    with pytest.raises(KeyError):
        await breaker.call(refuse, is_failure=lambda error: not isinstance(error, KeyError))
    assert breaker.state is BreakerState.CLOSED
    with pytest.raises(KeyError):
        await breaker.call(refuse)
    assert breaker.state is BreakerState.OPEN


async def test_call_returns_the_result_and_a_cancelled_trial_frees_its_slot() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock, threshold=1)
    fail(breaker, 1)
    clock.advance(10.0)

    async def cancelled() -> int:
        raise asyncio.CancelledError

    async def answer() -> int:
        return 42

    with pytest.raises(asyncio.CancelledError):
        await breaker.call(cancelled)
    assert breaker.state is BreakerState.HALF_OPEN
    assert await breaker.call(answer) == 42
    assert breaker.state is BreakerState.CLOSED


def test_rejects_nonsensical_settings() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
