"""Per-subject request rate limits shared by all replicas through Redis, decided locally.

`RateLimiter.hit` decides from local state alone, with a sliding-window estimate over windows
aligned to the clock: `previous * (1 - elapsed_fraction) + current`. The counts it uses are the
global counts last read from Redis plus what this replica admitted since. A background loop
(`start`) flushes the local counts with `INCRBY` every `sync_interval_s`; the reply is the
global count, so a round costs Redis work only for the subjects this replica admitted since
the last one (a subject's previous window is read once, after the window rolls over). A
subject idle here is not refreshed: its next request is decided on the counts of its last
round, and the round after it brings them up to date. Replicas overshoot the limit by at most
what they admit between those rounds. While Redis is unreachable every replica keeps counting
on its own: exact per replica, open across them. A limiter belongs to one event loop and is
not thread-safe."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.background import BackgroundJob, Backoff
from engine.store.redis_client import REDIS_ERRORS, RedisClient

log = logging.getLogger(__name__)

ROUND_TIMEOUT_S = 5.0
"""A sync round that takes longer is abandoned, and its counts are sent again with the next."""

_COUNT_EPSILON = 1e-6
_TIME_EPSILON = 1e-6
_UNREACHABLE: tuple[type[Exception], ...] = (*REDIS_ERRORS, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class _Window:
    """A subject's counts in one window: the global count last read from Redis, the local
    count sent in the round under way, and the local count not sent yet."""

    __slots__ = ("flushing", "known", "pending")

    def __init__(self) -> None:
        self.known = 0
        self.flushing = 0
        self.pending = 0

    @property
    def count(self) -> int:
        return self.known + self.flushing + self.pending


class _Subject:
    __slots__ = ("last_seen", "previous_read_at", "windows")

    def __init__(self) -> None:
        self.last_seen = 0.0
        self.previous_read_at: int | None = None
        """The window index at which the previous window's global count was last read."""
        self.windows: dict[int, _Window] = {}

    def count(self, index: int) -> int:
        window = self.windows.get(index)
        return 0 if window is None else window.count

    def window(self, index: int) -> _Window:
        window = self.windows.get(index)
        if window is None:
            window = self.windows[index] = _Window()
        return window


_Batch = list[tuple[str, _Subject, list[int], bool]]
"""Each subject of a sync round, with the windows whose counts it flushes and whether the
previous window's count is read."""


class RateLimiter:
    def __init__(
        self,
        redis: RedisClient,
        *,
        limit: int = 100,
        window_s: float = 60.0,
        namespace: str = "tiketi",
        sync_interval_s: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, not {window_s}")
        if not sync_interval_s > 0:
            raise ValueError(f"sync_interval_s must be positive, not {sync_interval_s}")
        self._redis = redis
        self._limit = limit
        self._window_s = window_s
        self._namespace = namespace
        self._clock = clock
        self._ttl_s = math.ceil(2 * window_s)
        self._subjects: dict[str, _Subject] = {}
        self._admitted: set[str] = set()
        """Subjects admitted since the last round began: the only ones a round sends."""
        self._forgotten_at = -math.inf
        self._lock = asyncio.Lock()
        # A round in flight is let finish rather than cancelled: its counts may have reached
        # Redis already, and the last sync would send them again.
        self._job = BackgroundJob("rate-limit sync", self.sync, every_s=sync_interval_s,
                                  backoff=Backoff.constant(sync_interval_s),
                                  finish_run_on_stop=True, logger=log)
        self._outage = False

    @property
    def tracked_subjects(self) -> int:
        """How many subjects are held locally (those seen in the last two windows)."""
        return len(self._subjects)

    def _key(self, subject: str, index: int) -> str:
        """The Redis key of a subject's global count in window `index`."""
        return f"{self._namespace}:rl:{{{subject}}}:{index}"

    def hit(self, subject: str) -> Decision:
        """Counts one request of `subject` if the limit allows it. No I/O."""
        now = self._clock()
        position = now / self._window_s
        index = math.floor(position)
        state = self._subjects.get(subject)
        if state is None:
            state = self._subjects[subject] = _Subject()
        state.last_seen = now
        previous = state.count(index - 1)
        current = state.count(index)
        estimate = previous * (1.0 - (position - index)) + current
        if estimate + 1 <= self._limit + _COUNT_EPSILON:
            state.window(index).pending += 1
            self._admitted.add(subject)
            remaining = math.floor(self._limit - estimate - 1 + _COUNT_EPSILON)
            return Decision(True, self._limit, max(0, remaining), 0)
        return Decision(False, self._limit, 0, self._retry_after(previous, current, now, index))

    def _retry_after(self, previous: int, current: int, now: float, index: int) -> int:
        """Whole seconds until the estimate with these counts leaves room for one request."""
        room = self._limit - 1
        if current <= room:
            # Room comes within this window, as the previous one's weight decays (previous > 0,
            # or the request would have been allowed).
            at = (index + 1 - (room - current) / previous) * self._window_s
        else:
            at = (index + 2 - room / current) * self._window_s
        return max(1, math.ceil(at - now - _TIME_EPSILON))

    async def sync(self) -> None:
        """One round with Redis: flushes the local counts, reads the global ones back."""
        async with self._lock:
            now = self._clock()
            index = math.floor(now / self._window_s)
            self._forget(now, index)
            batch = self._begin_round(index)
            if not batch:
                return
            try:
                async with asyncio.timeout(ROUND_TIMEOUT_S):
                    replies = await self._exchange(batch, index)
            except _UNREACHABLE as exc:
                self._abort_round(batch)
                if not self._outage:
                    self._outage = True
                    log.warning("rate limits cannot reach Redis, counting per replica: %s: %s",
                                type(exc).__name__, exc)
                return
            except BaseException:
                self._abort_round(batch)
                raise
            self._finish_round(batch, index, replies)
            if self._outage:
                self._outage = False
                log.info("rate limits reach Redis again")

    def _forget(self, now: float, index: int) -> None:
        """Drops subjects not seen for two windows, and windows before the previous one (a
        sweep over every subject, so at most once per tenth of a window)."""
        if now - self._forgotten_at < self._window_s / 10:
            return
        self._forgotten_at = now
        horizon = now - 2 * self._window_s
        for subject, state in list(self._subjects.items()):
            if state.last_seen < horizon:
                del self._subjects[subject]
                continue
            for stale in [i for i in state.windows if i < index - 1]:
                del state.windows[stale]

    def _begin_round(self, index: int) -> _Batch:
        """Moves the pending counts into flight."""
        batch: _Batch = []
        admitted, self._admitted = self._admitted, set()
        for subject in admitted:
            state = self._subjects.get(subject)
            if state is None:
                continue
            flushed: list[int] = []
            for i, window in state.windows.items():
                if window.pending:
                    window.flushing, window.pending = window.pending, 0
                    flushed.append(i)
            if flushed:
                batch.append((subject, state, flushed, state.previous_read_at != index))
        return batch

    def _abort_round(self, batch: _Batch) -> None:
        # Counts whose round failed are sent again with the next: a failure after Redis applied
        # them counts them twice, which errs on the side of the limit.
        for subject, state, flushed, _ in batch:
            self._admitted.add(subject)
            for i in flushed:
                window = state.windows[i]
                window.pending += window.flushing
                window.flushing = 0

    async def _exchange(self, batch: _Batch, index: int) -> list[object]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for subject, state, flushed, read_previous in batch:
                for i in flushed:
                    key = self._key(subject, i)
                    pipe.incrby(key, state.windows[i].flushing)
                    pipe.expire(key, self._ttl_s)
                if read_previous:
                    pipe.get(self._key(subject, index - 1))
            replies: list[object] = await pipe.execute()
            return replies

    def _finish_round(self, batch: _Batch, index: int, replies: list[object]) -> None:
        position = 0
        for _, state, flushed, read_previous in batch:
            for i in flushed:
                window = state.windows[i]
                window.known = _as_count(replies[position])
                window.flushing = 0
                position += 2
            if read_previous:
                known = _as_count(replies[position])
                position += 1
                if known or index - 1 in state.windows:
                    state.window(index - 1).known = known
                state.previous_read_at = index

    async def start(self) -> None:
        """Starts the background sync loop, unless it runs already."""
        self._job.start()

    async def close(self) -> None:
        """Stops the background loop and syncs a last time. The Redis client stays open."""
        await self._job.stop()
        await self._guarded_sync()

    async def _guarded_sync(self) -> None:
        try:
            await self.sync()
        except Exception:
            log.exception("rate-limit sync failed")


def _as_count(reply: object) -> int:
    if reply is None:
        return 0
    if isinstance(reply, int | bytes | str):
        return int(reply)
    raise TypeError(f"unexpected Redis reply {reply!r}")
