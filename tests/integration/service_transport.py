"""The router's transport over seat shard services running in this process (real PostgreSQL
and Redis, no Ray), through the wire form the actors use."""

from __future__ import annotations

from typing import Any, TypeVar

from engine.actors.services import SeatShardService
from engine.actors.wire import decode_outcomes, encode_commands, encode_outcomes
from engine.core.command_wire import decode_seat_batch
from engine.core.commands import SeatOp
from engine.core.errors import DomainError
from engine.core.inventory import HoldView
from engine.router.seats import SeatRouter
from tests.unit.local_shards import hold_info

R = TypeVar("R")


class ServiceTransport:
    def __init__(self, services: list[SeatShardService]) -> None:
        self.services = services

    async def call(self, shard: int, command: SeatOp[R]) -> R | DomainError:
        outcomes = await self.services[shard].submit(
            decode_seat_batch(encode_commands([command])))
        return decode_outcomes(encode_outcomes(outcomes))[0]

    async def hold_info(self, shard: int, hold_id: str) -> HoldView | DomainError:
        return await self.services[shard].read(lambda s: hold_info(s, hold_id))

    async def availability(self, shard: int) -> dict[str, Any]:
        return await self.services[shard].read(lambda s: s.inventory.availability())

    async def seat_states(self, shard: int) -> tuple[list[str], bytes]:
        return await self.services[shard].read(
            lambda s: (s.inventory.seat_ids, s.inventory.seat_states()))


def router_over(services: list[SeatShardService]) -> tuple[SeatRouter, ServiceTransport]:
    transport = ServiceTransport(services)
    return SeatRouter(transport, [s.describe() for s in services]), transport
