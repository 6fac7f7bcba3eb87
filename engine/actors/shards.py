"""The Ray actors: thin shells over the shard services.

Outcomes come back as values (a result, or the DomainError the command raised), never as
raised exceptions, so one bad command in a batch does not fail the batch. If the journal
fails, the process ends at once; Ray restarts the actor (max_restarts) and resubmits the
calls that were in flight (max_task_retries), which the idempotency keys make safe."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import ray

from engine.actors.config import ShardConfig
from engine.actors.link import LinkServer, new_token
from engine.actors.services import QueueShardService, SeatShardService
from engine.actors.wire import decode_commands, encode_outcomes

log = logging.getLogger(__name__)

BOOT_RETRY_S = 1.0
SWITCH_INTERVAL_S = 0.0005


def tune_gc() -> None:
    """Shards allocate many small long-lived objects; full collections over millions of them
    cost more than they free, so young collections are made rarer and start-up state is
    moved out of the collector's sight."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def tune_runtime() -> None:
    """Each actor call crosses from Ray's task thread to the event loop thread and back; with
    the default 5 ms GIL switch interval those hand-offs queue behind each other."""
    tune_gc()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def die(exc: BaseException) -> None:
    log.critical("shard ends its process to restart from its journal: %s", exc)
    logging.shutdown()
    os._exit(70)


class _Shard:
    def __init__(self, service: SeatShardService | QueueShardService) -> None:
        logging.basicConfig(level=service.config.log_level)
        self._service = service
        self._boot: asyncio.Task[dict[str, Any]] = asyncio.get_running_loop().create_task(
            self._start())
        self._info: dict[str, Any] = {}
        self._reads = 0
        self._link: LinkServer | None = None
        self._link_info: dict[str, Any] = {}

    async def _start(self) -> dict[str, Any]:
        info = await self._service.start()
        tune_runtime()
        host = self._service.config.link_host
        if host != "off":
            if self._link is None:
                token = new_token()
                link = LinkServer(self._packed, token)
                address = await link.start(
                    _node_address() if host == "node" else host)
                self._link, self._link_info = link, {"link": list(address), "link_token": token}
            info = {**info, **self._link_info}
        self._info = info
        return info

    async def _packed(self, payload: bytes) -> bytes:
        return encode_outcomes(await self._service.submit(decode_commands(payload)))

    async def _ready(self) -> None:
        if self._info:
            return
        try:
            await asyncio.shield(self._boot)
        except Exception:
            await asyncio.sleep(BOOT_RETRY_S)
            if self._boot.done():
                self._boot = asyncio.get_running_loop().create_task(self._start())
            await asyncio.shield(self._boot)

    async def ready(self) -> dict[str, Any]:
        """Waits until the shard has restored its state; returns facts about it."""
        await self._ready()
        return self._info

    async def execute_packed(self, payload: bytes) -> bytes:
        """Applies a batch of commands in the wire form of `engine.actors.wire`; returns
        their outcomes in the same form (what the router uses)."""
        await self._ready()
        return encode_outcomes(await self._service.submit(decode_commands(payload)))

    async def stats(self) -> dict[str, Any]:
        await self._ready()
        host = self._service.host
        assert host is not None
        return {**host.stats, "reads": self._reads, "seq": host.seq, "pid": os.getpid()}

    async def snapshot_now(self) -> int:
        """Writes a snapshot now (operators, tests); returns the sequence it covers."""
        await self._ready()
        host = self._service.host
        assert host is not None
        await host.snapshot()
        return host.seq

    async def state_snapshot(self) -> dict[str, Any]:
        """The whole durable state, as plain data (for audits and tests)."""
        return await self._read(lambda s: s.snapshot())  # type: ignore[no-any-return]

    async def _read(self, fn: Callable[[Any], Any]) -> Any:
        await self._ready()
        self._reads += 1
        return await self._service.read(fn)

    async def shutdown(self) -> None:
        if self._link is not None:
            await self._link.close()
        await self._service.close()


class SeatShard(_Shard):
    def __init__(self, config: ShardConfig) -> None:
        super().__init__(SeatShardService(config, die))

    async def availability(self) -> dict[str, Any]:
        return await self._read(lambda s: s.inventory.availability())  # type: ignore[no-any-return]

    async def seat_states(self) -> tuple[list[str], bytes]:
        """Seat ids and one status byte per seat (0 available, 1 held, 2 sold)."""
        return await self._read(  # type: ignore[no-any-return]
            lambda s: (s.inventory.seat_ids, s.inventory.seat_states()))

    async def hold_info(self, hold_id: str) -> Any:
        def info(state: Any) -> Any:
            try:
                return state.inventory.hold_info(hold_id)
            except Exception as exc:
                return exc
        return await self._read(info)

    async def totals(self) -> dict[str, int]:
        return await self._read(lambda s: s.inventory.totals())  # type: ignore[no-any-return]

    async def user_tickets(self, user: str) -> tuple[int, int]:
        """(tickets held or sold here, tickets counted by this shard's ledger)."""
        return await self._read(  # type: ignore[no-any-return]
            lambda s: (s.inventory.user_tickets(user), s.ledger.count(user)))


class QueueShard(_Shard):
    def __init__(self, config: ShardConfig) -> None:
        super().__init__(QueueShardService(config, die))

    async def status(self, user: str) -> Any:
        return await self._read(lambda s: s.room.status(user))

    async def status_many(self, users: Sequence[str]) -> list[Any]:
        return await self._read(  # type: ignore[no-any-return]
            lambda s: [s.room.status(u) for u in users])

    async def summary(self) -> Any:
        return await self._read(lambda s: s.room.summary())

    async def counts(self) -> dict[str, int]:
        return await self._read(lambda s: s.room.counts())  # type: ignore[no-any-return]


def _node_address() -> str:
    """This Ray node's address, where the node's peers reach it."""
    return str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]
