"""A circuit breaker: after repeated failures, refuse calls fast instead of piling onto a sick
dependency, then let a few trial calls find out whether it has recovered.

Pure state and an injected clock; no I/O."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpen(Exception):
    """The call was refused without being attempted."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"circuit breaker open; retry in {retry_after_s:.3f} s")
        self.retry_after_s = retry_after_s


def _always(error: BaseException) -> bool:
    return True


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures, or one failure while half-open;
    stays open `reset_after_s`, then admits at most `half_open_max_calls` trial calls, the
    first success among which closes it again.

    Each `allow()` that does not raise must be followed by `record_success()` or
    `record_failure()`; `call()` does that pairing for you."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or reset_after_s < 0:
            raise ValueError("need failure_threshold, half_open_max_calls >= 1, reset_after_s >= 0")
        self._failure_threshold = failure_threshold
        self._reset_after_s = reset_after_s
        self._half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self._reset_after_s
        ):
            self._state = BreakerState.HALF_OPEN
            self._trials = 0
        return self._state

    def allow(self) -> None:
        state = self.state
        if state is BreakerState.OPEN:
            raise BreakerOpen(self._opened_at + self._reset_after_s - self._clock())
        if state is BreakerState.HALF_OPEN:
            if self._trials >= self._half_open_max_calls:
                raise BreakerOpen(self._reset_after_s)
            self._trials += 1

    def record_success(self) -> None:
        if self._state is not BreakerState.OPEN:
            self._state = BreakerState.CLOSED
            self._failures = 0

    def record_failure(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self._failure_threshold:
                self._open()

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        is_failure: Callable[[BaseException], bool] = _always,
    ) -> T:
        """Runs `fn` if allowed. An exception counts as a failure if `is_failure` says so,
        otherwise as a success (the dependency answered); a cancelled call counts as neither."""
        self.allow()
        try:
            result = await fn()
        except Exception as error:
            if is_failure(error):
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            if self._state is BreakerState.HALF_OPEN:
                self._trials = max(0, self._trials - 1)
            raise
        self.record_success()
        return result

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0
        self._trials = 0
