"""Writes `journal_format1.msgpack`: journal entries of the first format (untyped tuple
commands), as the engine wrote them before commands were typed. Run from this checkout with
the engine of commit 2335c7a first on the path:
`PYTHONPATH=<that checkout> python tests/data/write_journal_format1.py`. The file holds the
seat and queue shards' entries (the `d` field of each stream entry) and the state each shard
reached, as plain data."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import msgpack
from journal_venue import venue  # beside this script

from engine.actors.host import ShardHost, ShellClock
from engine.core.commands import QueueShardState, SeatShardState
from engine.core.inventory import HoldPolicy, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.waiting_room import QueuePolicy, WaitingRoom
from engine.store.journal import Recovered, ShardJournal

OUT = pathlib.Path(__file__).with_name("journal_format1.msgpack")


class Capture:
    """The journal's own encoding of each append, kept instead of sent to Redis."""

    def __init__(self) -> None:
        self.real = ShardJournal(None, "ns", "shard")  # type: ignore[arg-type]
        self.entries: list[bytes] = []

    async def claim(self) -> int:
        return 1

    async def recover(self) -> Recovered:
        return Recovered(0, None, [])

    def append_args(self, seq: int, now: float, commands: Any, events: Any) -> Any:
        return self.real.append_args(seq, now, commands, events)

    def snapshot_args(self, seq: int, state: Any) -> Any:
        return self.real.snapshot_args(seq, state)

    async def write(self, ops: Any) -> None:
        for _, args in ops:
            if args[0] == "a":
                self.entries.append(args[2])


async def run(commands: list[list[tuple[Any, ...]]], make: Any, clock: ShellClock
              ) -> tuple[list[bytes], Any]:
    journal = Capture()
    host = ShardHost(journal, clock, snapshot_every_ops=10_000, snapshot_every_s=1e9,
                     on_fatal=lambda exc: None)
    await host.start(fresh=make, blank=make)
    for batch in commands:
        clock.set(clock.now() + 1.0)
        await host.submit(batch)
    state = host.state.snapshot()
    await host.close()
    return journal.entries, state


async def main() -> None:
    clock = ShellClock()
    clock.set(1_000.0)
    policy = HoldPolicy(ttl=30.0, extension=10.0, max_lifetime=60.0, user_limit=4)
    seats = [
        [("hold", "u1", ["A-1-1", "A-1-2"], "k1", "0.aaa")],
        [("hold_best", "u2", 2, "k2", None, None, "0.bbb"), ("confirm", "u1", "0.aaa", "c1")],
        [("hold_ga", "u3", "GA", 3, "k3", "0.ccc"), ("extend", "u2", "0.bbb", "e2", 5.0)],
        [("quota_reserve", "u4", "ref4", 2, 2_000.0),
         ("with_quota", "ref5", 1, 2_000.0, ("hold", "u5", ["A-3-6"], "k5", "0.eee"))],
        [("release", "u3", "0.ccc", "r3"), ("quota_commit", "u4", "ref4")],
        [("cancel_sale", "u1", "0.aaa", "x1"), ("quota_extend", "u5", "ref5", 2_500.0)],
        [("set_policy", {"ttl": 20.0, "extension": 10.0, "max_extensions": 2,
                         "max_lifetime": 60.0, "user_limit": 3, "idempotency_window": 3600.0,
                         "retention": 3600.0})],
        [("quota_release", "u4", "ref4"), ("hold", "u6", ["A-2-3"], "k6")],
        [("sweep",)],
    ]
    seat_entries, seat_state = await run(
        seats, lambda: SeatShardState(SeatInventory(venue(), policy, clock, hold_prefix="0.h"),
                                      TicketLedger(policy.user_limit, clock)), clock)
    qclock = ShellClock()
    qclock.set(1_000.0)
    queue = [
        [("join", "a"), ("join", "b"), ("join", "c")],
        [("heartbeat", "a"), ("heartbeat_many", ["b", "c"])],
        [("tick",)],
        [("leave", "b"), ("complete", "a")],
        [("set_policy", {"admission_rate": 2.0, "active_cap": 3}, None)],
        [("tick",), ("close",)],
    ]
    queue_entries, queue_state = await run(
        queue, lambda: QueueShardState(WaitingRoom(QueuePolicy(), qclock, opens_at=1_001.5,
                                                   seed="ab" * 8)), qclock)
    OUT.write_bytes(msgpack.packb({
        "seat": {"entries": seat_entries, "state": seat_state},
        "queue": {"entries": queue_entries, "state": queue_state},
    }, use_bin_type=True))


if __name__ == "__main__":
    asyncio.run(main())
