"""Runs one shard's state: applies command batches, journals them to Redis before replying,
snapshots, and rebuilds the state from snapshot + journal on start.

Writes go through one writer task in order (group commit): entries applied while a write is
in flight are written together in the next round trip. A reply waits until its own entry
and every earlier one are durable, and so does any read, so nobody ever sees state that a
crash could take back. A snapshot is serialised when taken and written behind the journal
entries it covers. If a write fails, the in-memory state is ahead of the journal: the host
stops serving and calls `on_fatal`, whose job is to end the process so it restarts from the
journal (callers retry idempotently)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from engine.core.clock import ManualClock
from engine.core.errors import ShardUnavailable
from engine.store.journal import Recovered

log = logging.getLogger(__name__)


C = TypeVar("C")
C_in = TypeVar("C_in", contravariant=True)
T = TypeVar("T")


class ShardState(Protocol[C_in]):
    def apply(self, cmd: C_in) -> tuple[Any, Any]:
        """The outcome, and the command to journal (None: nothing changed)."""
        ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, snap: dict[str, Any]) -> None: ...

    def pull_events(self) -> list[Any]: ...


S = TypeVar("S", bound=ShardState[Any])


class Journal(Protocol):
    """Where a host makes its shard durable (`engine.store.journal.ShardJournal`)."""

    async def claim(self) -> int: ...

    async def recover(self) -> Recovered: ...

    def append_args(
        self, seq: int, now: float, commands: Sequence[Any], events: Sequence[Any]
    ) -> Any: ...

    def snapshot_args(self, seq: int, state: Any) -> Any: ...

    async def write(self, ops: Sequence[tuple[str, Any]]) -> None: ...


class ShellClock(ManualClock):
    """The clock the core reads: set from the OS before each batch, never moving backwards."""

    def tick(self) -> float:
        now = time.time()
        if now > self.now():
            self.set(now)
        return self.now()


class ShardHost(Generic[S, C]):
    def __init__(
        self,
        journal: Journal,
        clock: ShellClock,
        decode: Callable[[Sequence[Any]], Sequence[C]],
        *,
        snapshot_every_ops: int,
        snapshot_every_s: float,
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self.journal = journal
        self.clock = clock
        self._decode = decode
        self.snapshot_every_ops = snapshot_every_ops
        self.snapshot_every_s = snapshot_every_s
        self._on_fatal = on_fatal
        self._state: S | None = None
        self._seq = 0
        self._durable = 0
        self._queue: list[tuple[str, Any, asyncio.Future[None] | None, int]] = []
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._wakeup = asyncio.Event()
        self._failed: str | None = None
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self._writer: asyncio.Task[None] | None = None
        self.stats = {"batches": 0, "commands": 0, "writes": 0, "snapshots": 0}

    @property
    def state(self) -> S:
        if self._state is None:
            raise ShardUnavailable("the shard has not started")
        return self._state

    @property
    def seq(self) -> int:
        return self._seq

    async def start(
        self,
        fresh: Callable[[], S],
        blank: Callable[[], S],
        after_restore: Callable[[S], Awaitable[bool]] | None = None,
    ) -> dict[str, Any]:
        """Claims the journal and rebuilds the state.

        `fresh` makes the state of a shard that has never run; `blank` makes an empty state
        for a snapshot to be restored into. `after_restore` may change the state (reconcile);
        it returns True if it did, and the result is snapshotted before anything is served."""
        await self.journal.claim()
        recovered = await self.journal.recover()
        first_start = recovered.snapshot is None and not recovered.entries
        if first_start:
            state = fresh()
        else:
            state = blank()
            if recovered.snapshot is not None:
                state.restore(recovered.snapshot)
            for entry in recovered.entries:
                self.clock.set(entry.now)
                for cmd in self._decode(entry.commands):
                    state.apply(cmd)
            state.pull_events()
        self._seq = self._durable = recovered.last_seq
        self._state = state
        changed = await after_restore(state) if after_restore is not None else False
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        if first_start or changed or recovered.entries:
            await self.snapshot()
        return {"first_start": first_start, "replayed": len(recovered.entries),
                "snapshot_seq": recovered.snapshot_seq, "seq": self._seq,
                "reconciled": changed}

    async def submit(self, commands: Sequence[C]) -> list[Any]:
        """Applies commands in order; returns their outcomes once they are durable."""
        self._check()
        state = self.state
        now = self.clock.tick()
        outcomes = []
        entry = []
        apply = state.apply
        for cmd in commands:
            outcome, journal = apply(cmd)
            outcomes.append(outcome)
            if journal is not None:
                entry.append(journal)
        self.stats["batches"] += 1
        self.stats["commands"] += len(commands)
        if entry:
            self._seq += 1
            seq = self._seq
            events = [(type(e).__name__, e) for e in state.pull_events()]
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.append(("append", self.journal.append_args(seq, now, entry, events),
                                future, seq))
            self._wakeup.set()
            self._since_snapshot += len(entry)
            if self._since_snapshot >= self.snapshot_every_ops:
                self._take_snapshot()
            await future
        else:
            await self.settled()
        return outcomes

    async def settled(self) -> None:
        """Waits until everything applied so far is durable."""
        self._check()
        if self._durable >= self._seq:
            return
        seq = self._seq
        future = self._waiters.get(seq)
        if future is None:
            future = self._waiters[seq] = asyncio.get_running_loop().create_future()
        await future

    async def read(self, fn: Callable[[S], T]) -> T:
        """Runs a read against durable state only."""
        await self.settled()
        self.clock.tick()
        return fn(self.state)

    async def snapshot(self) -> None:
        """Snapshots now and waits until the snapshot is written."""
        self._check()
        future = self._take_snapshot()
        await future

    def snapshot_due(self) -> bool:
        return self._since_snapshot > 0 and (
            time.monotonic() - self._snapshot_at >= self.snapshot_every_s)

    async def close(self) -> None:
        """Stops writing; whoever still waits for durability is told the shard is gone."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        self._failed = self._failed or "closed"
        error = ShardUnavailable("the shard has stopped")
        for future in [f for _, _, f, _ in self._queue if f is not None] + list(
                self._waiters.values()):
            if not future.done():
                future.set_exception(error)
        self._queue = []
        self._waiters = {}

    def _take_snapshot(self) -> asyncio.Future[None]:
        state = self.state
        data = state.snapshot()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(("snapshot", self.journal.snapshot_args(self._seq, data), future,
                            self._seq))
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self.stats["snapshots"] += 1
        self._wakeup.set()
        return future

    def _check(self) -> None:
        if self._failed is not None:
            raise ShardUnavailable(f"the shard's journal failed ({self._failed}); "
                                   "it is restarting")

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                ops, self._queue = self._queue, []
                try:
                    await self.journal.write([(kind, args) for kind, args, _, _ in ops])
                except Exception as exc:  # the state is now ahead of the journal
                    self._fail(exc, ops)
                    return
                self.stats["writes"] += 1
                for _, _, future, seq in ops:
                    if future is not None and not future.done():
                        future.set_result(None)
                    self._durable = max(self._durable, seq)
                for seq in [s for s in self._waiters if s <= self._durable]:
                    waiter = self._waiters.pop(seq)
                    if not waiter.done():
                        waiter.set_result(None)

    def _fail(self, exc: BaseException, ops: list[tuple[str, Any, Any, int]]) -> None:
        log.error("journal write failed, shard stops serving: %s", exc)
        self._failed = f"{type(exc).__name__}: {exc}"
        error = ShardUnavailable("the shard's journal failed; it is restarting")
        pending = [f for _, _, f, _ in ops + self._queue if f is not None]
        pending += list(self._waiters.values())
        for future in pending:
            if not future.done():
                future.set_exception(error)
        self._queue = []
        self._waiters = {}
        self._on_fatal(exc)
