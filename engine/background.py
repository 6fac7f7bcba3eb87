"""Background jobs: the named loops a service runs beside its requests (sweeps, flushes,
relays, watchers). A job runs until it is stopped. A run that fails is logged once, with the
job's name, and the job goes on after a pause that grows with each failure in a row, up to a
cap; a success brings the pause back to the job's interval. `stop` cancels the job and waits
for it (or lets a run under way finish, for jobs that must not be cut short), so nothing of
the job outlives it, and stopping twice is harmless. Time passes only through the injected
`sleep`, so tests drive a job without waiting.

Standard library only: `api` and every part of `engine` outside the pure core use it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Run = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """The pause after the n-th failure in a row: `first_s * factor ** (n - 1)`, at most
    `cap_s`."""

    first_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0

    @classmethod
    def constant(cls, pause_s: float) -> Backoff:
        """The same pause after every failure (a loop that retries at its own pace)."""
        return cls(pause_s, 1.0, pause_s)

    def delay(self, failures: int) -> float:
        return min(self.cap_s, self.first_s * self.factor ** max(0, failures - 1))


class BackgroundJob:
    """`run` every `every_s` seconds (waiting first unless `wait_first` is false), or, with
    `every_s` None, once: a long-running `run` that ends the job when it returns and is
    restarted when it fails. Failures of the `quiet` kinds (expected trouble, such as a store
    that is away) are logged as a warning without a traceback."""

    def __init__(self, name: str, run: Run, *, every_s: float | None = None,
                 wait_first: bool = True, backoff: Backoff = Backoff(),
                 quiet: tuple[type[Exception], ...] = (), finish_run_on_stop: bool = False,
                 logger: logging.Logger = log, sleep: Sleep = asyncio.sleep) -> None:
        self.name = name
        self._run = run
        self._every_s = every_s
        self._wait_first = wait_first and every_s is not None
        self._backoff = backoff
        self._quiet = quiet
        self._finish_run_on_stop = finish_run_on_stop
        self._log = logger
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._in_run = False
        self._stopping = False
        self.failures = 0
        """Failures in a row (0 after a success)."""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Starts the job, unless it runs already."""
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancels the job (or, with `finish_run_on_stop`, lets a run under way end) and
        waits until it has ended."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        if not (self._finish_run_on_stop and self._in_run):
            task.cancel()
        await asyncio.wait({task})

    async def _loop(self) -> None:
        pause = self._every_s if self._wait_first else None
        while True:
            if pause is not None:
                await self._sleep(pause)
            self._in_run = True
            try:
                await self._run()
            except Exception as exc:
                self.failures += 1
                pause = self._backoff.delay(self.failures)
                self._report(exc)
            else:
                self.failures = 0
                if self._every_s is None:
                    return
                pause = self._every_s
            finally:
                self._in_run = False
            if self._stopping:
                return

    def _report(self, exc: Exception) -> None:
        if isinstance(exc, self._quiet):
            self._log.warning("%s: %s", self.name, exc)
        else:
            self._log.exception("%s failed", self.name)


async def stop_all(jobs: Iterable[BackgroundJob]) -> None:
    """Stops the jobs together: every one is cancelled before any is waited for."""
    await asyncio.gather(*(job.stop() for job in jobs))
