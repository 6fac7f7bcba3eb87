"""An event's seat shards in this process, for the router's unit tests: each a `ShardHost`
over an in-memory journal, reached through the wire form. A shard can be crashed (it
restarts from its journal), and a call can be made to fail before or after it is applied,
as a lost connection or a lost answer."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from engine.actors.host import ShardHost, ShellClock
from engine.actors.wire import decode_outcomes, encode_commands, encode_outcomes
from engine.core.command_wire import decode_seat_batch, seat_commands
from engine.core.commands import SeatCommand, SeatOp
from engine.core.errors import DomainError, ShardUnavailable
from engine.core.inventory import HoldPolicy, HoldView, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.shard_state import SeatShardState
from engine.core.venue import Venue, plan_shards

from .helpers import MemoryJournal

R = TypeVar("R")
T = TypeVar("T")


def hold_info(state: SeatShardState, hold_id: str) -> HoldView | DomainError:
    """A shard's answer to a hold read: the hold, or why there is none."""
    try:
        return state.inventory.hold_info(hold_id)
    except DomainError as exc:
        return exc


class Down(ConnectionError):
    """The shard could not be reached (the command may or may not have been applied)."""


class LocalSeatShards:
    def __init__(self, venue: Venue, shard_count: int, policy: HoldPolicy) -> None:
        plan = plan_shards(venue, shard_count)
        self.venues = [
            venue.subset([s.id for s in venue.sections if plan[s.id] == k],
                         [t.id for t in venue.ticket_types if plan[t.id] == k])
            for k in range(shard_count)]
        self.policy = policy
        self.journals = [MemoryJournal() for _ in range(shard_count)]
        self.hosts: list[ShardHost[SeatShardState, SeatCommand]] = []
        self.faults: dict[int, str] = {}
        self.calls: list[tuple[int, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def start(self) -> None:
        self.hosts = [await self._start(k) for k in range(len(self.venues))]

    async def _start(self, k: int) -> ShardHost[SeatShardState, SeatCommand]:
        clock = ShellClock()
        venue = self.venues[k]

        def make(prefix: str) -> SeatShardState:
            return SeatShardState(SeatInventory(venue, self.policy, clock, hold_prefix=prefix),
                                  TicketLedger(self.policy.user_limit, clock))

        host: ShardHost[SeatShardState, SeatCommand] = ShardHost(
            self.journals[k], clock, seat_commands, snapshot_every_ops=7,
            snapshot_every_s=60.0, on_fatal=lambda exc: None)
        await host.start(fresh=lambda: make(f"{k}.h"), blank=lambda: make(""))
        return host

    def infos(self) -> list[dict[str, Any]]:
        infos = []
        for k, venue in enumerate(self.venues):
            seats = list(venue.seats())
            infos.append({
                "shard": k, "sections": [s.id for s in venue.sections],
                "ticket_types": [t.id for t in venue.ticket_types],
                "grades": sorted({s.grade for s in seats}),
                "nearest": min((venue.distance(s) for s in seats), default=None),
                "policy": {"ttl": self.policy.ttl, "extension": self.policy.extension,
                           "max_lifetime": self.policy.max_lifetime,
                           "user_limit": self.policy.user_limit}})
        return infos

    def state(self, k: int) -> SeatShardState:
        return self.hosts[k].state

    async def crash(self, k: int) -> None:
        """The shard's process dies; it comes back with what its journal holds."""
        await self.hosts[k].close()
        self.hosts[k] = await self._start(k)

    async def call(self, shard: int, command: SeatOp[R]) -> R | DomainError:
        self.calls.append((shard, type(command).__struct_config__.tag))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # calls sent together are in flight together
            fault = self.faults.pop(shard, None)
            if fault == "before":
                await self.crash(shard)
                raise Down(f"shard {shard} went away before the command")
            (wire,) = decode_seat_batch(encode_commands([command]))
            assert not isinstance(wire, DomainError)
            try:
                outcomes = await self.hosts[shard].submit([wire])
            except ShardUnavailable as exc:  # it crashed under this call
                raise Down(str(exc)) from None
            if fault == "after":
                await self.crash(shard)
                raise Down(f"shard {shard} went away before answering")
            return decode_outcomes(encode_outcomes(outcomes))[0]
        finally:
            self.in_flight -= 1

    async def hold_info(self, shard: int, hold_id: str) -> HoldView | DomainError:
        return await self._read(shard, lambda s: hold_info(s, hold_id))

    async def availability(self, shard: int) -> dict[str, Any]:
        return await self._read(shard, lambda s: s.inventory.availability())

    async def seat_states(self, shard: int) -> tuple[list[str], bytes]:
        return await self._read(shard,
                                lambda s: (s.inventory.seat_ids, s.inventory.seat_states()))

    async def _read(self, shard: int, read: Any) -> Any:
        try:
            return await self.hosts[shard].read(read)
        except ShardUnavailable as exc:
            raise Down(str(exc)) from None

    async def close(self) -> None:
        for host in self.hosts:
            await host.close()
