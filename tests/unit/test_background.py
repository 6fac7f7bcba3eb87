"""`engine.background`: jobs started, stopped and restarted after failures, on a fake sleep."""

from __future__ import annotations

import asyncio
import logging

import pytest

from engine.background import BackgroundJob, Backoff, stop_all


class FakeSleep:
    """Records every pause; returns at once, or blocks on the pauses listed in `block_on`."""

    def __init__(self, block_on: frozenset[float] = frozenset()) -> None:
        self.pauses: list[float] = []
        self.block_on = block_on
        self.blocked = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if seconds in self.block_on:
            self.blocked.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)


class Runs:
    """A job body that fails its first `failures` runs and counts every run."""

    def __init__(self, failures: int = 0, exc: type[Exception] = RuntimeError) -> None:
        self.count = 0
        self.failures = failures
        self.exc = exc

    async def __call__(self) -> None:
        self.count += 1
        if self.count <= self.failures:
            raise self.exc(f"run {self.count} broke")


async def until(condition: object, *, turns: int = 1_000) -> None:
    for _ in range(turns):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_a_periodic_job_waits_its_interval_before_each_run() -> None:
    sleep, runs = FakeSleep(), Runs()
    job = BackgroundJob("sweep", runs, every_s=0.5, sleep=sleep)
    job.start()
    await until(lambda: runs.count >= 3)
    await job.stop()

    assert sleep.pauses[:3] == [0.5, 0.5, 0.5]
    assert not job.running


async def test_a_job_may_run_before_its_first_pause() -> None:
    sleep, pauses_before_run = FakeSleep(), []

    async def run() -> None:
        pauses_before_run.append(len(sleep.pauses))

    job = BackgroundJob("relay", run, every_s=0.2, wait_first=False, sleep=sleep)
    job.start()
    await until(lambda: len(pauses_before_run) >= 3)
    await job.stop()

    assert pauses_before_run[:3] == [0, 1, 2]
    assert set(sleep.pauses) == {0.2}


async def test_a_failing_job_is_restarted_with_growing_capped_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleep, runs = FakeSleep(), Runs(failures=5)
    job = BackgroundJob("outbox relay", runs, every_s=0.1, wait_first=False,
                        backoff=Backoff(first_s=1.0, factor=2.0, cap_s=5.0), sleep=sleep)
    with caplog.at_level(logging.INFO, logger="engine.background"):
        job.start()
        await until(lambda: runs.count >= 8)
        await job.stop()

    assert sleep.pauses[:7] == [1.0, 2.0, 4.0, 5.0, 5.0, 0.1, 0.1]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 5
    assert all(r.getMessage() == "outbox relay failed" and r.exc_info for r in failures)
    assert job.failures == 0


async def test_a_success_brings_the_backoff_back_to_its_first_pause() -> None:
    sleep = FakeSleep()
    outcomes = iter([False, False, True, False, True, True, True, True])

    async def run() -> None:
        if not next(outcomes):
            raise RuntimeError("down")

    job = BackgroundJob("flush", run, every_s=0.5, wait_first=False,
                        backoff=Backoff(first_s=1.0), sleep=sleep)
    job.start()
    await until(lambda: len(sleep.pauses) >= 6)
    await job.stop()

    assert sleep.pauses[:6] == [1.0, 2.0, 0.5, 1.0, 0.5, 0.5]


async def test_expected_trouble_is_a_warning_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = Runs(failures=2, exc=ConnectionError)
    job = BackgroundJob("sold-out watcher", runs, every_s=2.0, wait_first=False,
                        quiet=(OSError,), sleep=FakeSleep())
    with caplog.at_level(logging.INFO, logger="engine.background"):
        job.start()
        await until(lambda: runs.count >= 3)
        await job.stop()

    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (logging.WARNING, "sold-out watcher: run 1 broke", None),
        (logging.WARNING, "sold-out watcher: run 2 broke", None),
    ]


async def test_failures_are_logged_to_the_logger_given() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.background.owner")
    logger.addHandler(handler := Keep())
    try:
        runs = Runs(failures=1)
        job = BackgroundJob("audit flush", runs, every_s=1.0, logger=logger, sleep=FakeSleep())
        job.start()
        await until(lambda: runs.count >= 2)
        await job.stop()
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["audit flush failed"]


async def test_stop_during_backoff_ends_the_job_at_once() -> None:
    sleep, runs = FakeSleep(block_on=frozenset({30.0})), Runs(failures=1)
    job = BackgroundJob("watcher", runs, every_s=1.0, wait_first=False,
                        backoff=Backoff.constant(30.0), sleep=sleep)
    job.start()
    await asyncio.wait_for(sleep.blocked.wait(), 1.0)
    await asyncio.wait_for(job.stop(), 1.0)

    assert runs.count == 1 and sleep.pauses == [30.0]
    assert not job.running


async def test_stop_is_idempotent_and_a_stopped_job_can_start_again() -> None:
    sleep, runs = FakeSleep(), Runs()
    job = BackgroundJob("cache version", runs, every_s=0.25, sleep=sleep)
    await job.stop()
    job.start()
    job.start()
    await until(lambda: runs.count >= 1)
    await job.stop()
    await job.stop()
    stopped_at = runs.count
    for _ in range(20):
        await asyncio.sleep(0)
    assert runs.count == stopped_at

    job.start()
    await until(lambda: runs.count > stopped_at)
    await job.stop()


@pytest.mark.parametrize("finish", [False, True])
async def test_stop_cancels_a_run_under_way_unless_told_to_let_it_finish(finish: bool) -> None:
    gate, started, ended = asyncio.Event(), asyncio.Event(), []

    async def run() -> None:
        started.set()
        await gate.wait()
        ended.append(True)

    job = BackgroundJob("sync", run, every_s=1.0, wait_first=False,
                        finish_run_on_stop=finish, sleep=FakeSleep())
    job.start()
    await started.wait()
    stopping = asyncio.ensure_future(job.stop())
    await asyncio.sleep(0)
    gate.set()
    await asyncio.wait_for(stopping, 1.0)
    assert ended == ([True] if finish else [])
    assert not job.running


async def test_a_long_running_job_ends_when_it_returns_and_restarts_when_it_fails() -> None:
    sleep, runs = FakeSleep(), Runs(failures=2)
    job = BackgroundJob("lookups", runs, backoff=Backoff(first_s=0.5, cap_s=0.75), sleep=sleep)
    job.start()
    await until(lambda: not job.running)

    assert runs.count == 3 and sleep.pauses == [0.5, 0.75]
    await job.stop()


async def test_stop_all_stops_every_job() -> None:
    jobs = [BackgroundJob(f"job {k}", Runs(), every_s=1.0, sleep=FakeSleep()) for k in range(3)]
    for job in jobs:
        job.start()
    await stop_all(jobs)
    assert not any(job.running for job in jobs)


def test_backoff_grows_by_its_factor_up_to_its_cap() -> None:
    backoff = Backoff(first_s=0.5, factor=3.0, cap_s=10.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]
    assert [Backoff.constant(2.0).delay(n) for n in (1, 2, 9)] == [2.0, 2.0, 2.0]
