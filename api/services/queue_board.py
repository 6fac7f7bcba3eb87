"""What a Queue replica knows of each event's line without asking its actor on every request:
the summary the queue shard publishes to Redis (refreshed a few times a second while the
event is asked about), heartbeats gathered and sent in batches, and the actor lookups that
are unavoidable (after the user leaves the waiting state, or before the sale opens) coalesced
into one batched call per event every few milliseconds."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from api.context import ApiContext
from engine.actors.config import queue_summary_key
from engine.background import BackgroundJob, stop_all
from engine.core.waiting_room import QueueStatus, QueueSummary
from engine.store.journal import unpack
from engine.store.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)

IDLE_AFTER_S = 30.0
LOOKUP_EVERY_S = 0.02
HEARTBEAT_EVERY_S = 1.0
SETTLED_FOR_S = 5.0  # how long a left/dropped/done/expired status is reused


@dataclass
class _Line:
    summary: QueueSummary | None = None
    asked_at: float = field(default_factory=time.monotonic)
    beats: set[str] = field(default_factory=set)
    pending: dict[str, list[asyncio.Future[QueueStatus]]] = field(default_factory=dict)
    known: dict[str, tuple[QueueStatus, float]] = field(default_factory=dict)


class QueueBoard:
    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx
        self._lines: dict[str, _Line] = {}
        self._jobs = [
            BackgroundJob("queue summaries", self._summaries,
                          every_s=ctx.settings.shards.queue_publish_s, logger=log),
            BackgroundJob("queue lookups", self._lookups, logger=log),
            BackgroundJob("queue heartbeats", self._heartbeats, every_s=HEARTBEAT_EVERY_S,
                          logger=log),
        ]
        self._wake = asyncio.Event()
        self.actor_calls = 0

    def _line(self, event_id: str) -> _Line:
        line = self._lines.get(event_id)
        if line is None:
            line = self._lines[event_id] = _Line()
        line.asked_at = time.monotonic()
        return line

    async def summary(self, event_id: str) -> QueueSummary | None:
        line = self._line(event_id)
        if line.summary is None:
            await self._refresh(event_id, line)
        return line.summary

    def touch(self, event_id: str, user_id: str) -> None:
        self._line(event_id).beats.add(user_id)

    def known(self, event_id: str, user_id: str) -> QueueStatus | None:
        """A status learnt from the actor that still holds: admitted until the session ends,
        other settled states for a few seconds."""
        entry = self._line(event_id).known.get(user_id)
        if entry is None:
            return None
        status, until = entry
        if until < time.time():
            return None
        return status

    def remember(self, event_id: str, status: QueueStatus) -> None:
        line = self._line(event_id)
        if status.state == "admitted" and status.session_expires_at:
            line.known[status.user_id] = (status, status.session_expires_at)
        elif status.state in ("left", "dropped", "done", "expired"):
            line.known[status.user_id] = (status, time.time() + SETTLED_FOR_S)
        else:
            line.known.pop(status.user_id, None)

    def forget(self, event_id: str, user_id: str) -> None:
        self._line(event_id).known.pop(user_id, None)

    async def lookup(self, event_id: str, user_id: str) -> QueueStatus:
        """The user's status from the actor, batched with everyone else's."""
        line = self._line(event_id)
        future: asyncio.Future[QueueStatus] = asyncio.get_running_loop().create_future()
        line.pending.setdefault(user_id, []).append(future)
        self._wake.set()
        status = await future
        self.remember(event_id, status)
        return status

    async def start(self) -> None:
        for job in self._jobs:
            job.start()

    async def close(self) -> None:
        await stop_all(self._jobs)

    async def _refresh(self, event_id: str, line: _Line) -> None:
        key = queue_summary_key(self._ctx.settings.namespace, event_id)
        try:
            raw: bytes | None = await self._ctx.redis.get(key)  # type: ignore[assignment]
        except REDIS_ERRORS as exc:
            log.warning("queue summary read failed: %s", exc)
            raw = None
        if raw is not None:
            line.summary = QueueSummary.from_list(unpack(raw))
            return
        queue = await self._ctx.engine.queue(event_id)  # starts the shard if it is not running
        line.summary = await queue.summary()
        self.actor_calls += 1

    async def _summaries(self) -> None:
        now = time.monotonic()
        for event_id, line in list(self._lines.items()):
            if now - line.asked_at > IDLE_AFTER_S and not line.pending:
                del self._lines[event_id]
                continue
            try:
                await self._refresh(event_id, line)
            except Exception as exc:
                log.warning("queue summary refresh of %s failed: %s", event_id, exc)

    async def _lookups(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(LOOKUP_EVERY_S)
            for event_id, line in list(self._lines.items()):
                if line.pending:
                    pending, line.pending = line.pending, {}
                    asyncio.get_running_loop().create_task(self._resolve(event_id, pending))

    async def _resolve(self, event_id: str,
                       pending: dict[str, list[asyncio.Future[QueueStatus]]]) -> None:
        users = list(pending)
        try:
            queue = await self._ctx.engine.queue(event_id)
            statuses: list[Any] = await queue.status_many(users)
            self.actor_calls += 1
        except Exception as exc:
            for futures in pending.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for user, status in zip(users, statuses, strict=True):
            for future in pending[user]:
                if not future.done():
                    future.set_result(status)

    async def _heartbeats(self) -> None:
        for event_id, line in list(self._lines.items()):
            if not line.beats:
                continue
            beats, line.beats = line.beats, set()
            try:
                queue = await self._ctx.engine.queue(event_id)
                await queue.heartbeat_many(sorted(beats))
                self.actor_calls += 1
            except Exception as exc:
                log.warning("heartbeats for %s failed: %s", event_id, exc)
