"""The shard host over an in-memory journal: replies wait for durability, writes keep their
order, snapshots cover exactly what was journaled before them, and a failed write stops the
shard instead of letting it serve state the journal does not have."""

from __future__ import annotations

import asyncio

import pytest

from engine.actors.host import ShardHost, ShellClock
from engine.core.command_wire import queue_commands
from engine.core.commands import Heartbeat, Join, Leave
from engine.core.errors import ShardUnavailable
from engine.core.shard_state import QueueShardState
from engine.core.waiting_room import QueuePolicy, WaitingRoom
from engine.store.journal import pack, unpack

from ..helpers import MemoryJournal


async def start(journal: MemoryJournal, fatal: list[BaseException], every: int = 1_000
                ) -> ShardHost:
    clock = ShellClock()

    def room() -> QueueShardState:
        return QueueShardState(WaitingRoom(QueuePolicy(), clock, opens_at=0.0, seed="ab"))

    host = ShardHost(journal, clock, queue_commands, snapshot_every_ops=every,
                     snapshot_every_s=60.0, on_fatal=fatal.append)
    await host.start(fresh=room, blank=room)
    return host


async def test_reply_waits_until_the_entry_is_durable() -> None:
    journal, fatal = MemoryJournal(), list[BaseException]()
    host = await start(journal, fatal)
    journal.gate.clear()
    pending = asyncio.ensure_future(host.submit([Join("a")]))
    await asyncio.sleep(0.05)
    assert not pending.done()
    read = asyncio.ensure_future(host.read(lambda s: s.room.status("a")))
    await asyncio.sleep(0.05)
    assert not read.done()
    journal.gate.set()
    (status,) = await pending
    assert status.state == "waiting"
    assert (await read).state == "waiting"
    await host.close()


async def test_concurrent_batches_are_grouped_and_ordered() -> None:
    journal, fatal = MemoryJournal(), list[BaseException]()
    host = await start(journal, fatal)
    journal.gate.clear()
    futures = [asyncio.ensure_future(host.submit([Join(f"u{i}")])) for i in range(20)]
    await asyncio.sleep(0.01)
    journal.gate.set()
    await asyncio.gather(*futures)
    seqs = [e.seq for e in journal.entries]
    assert seqs == sorted(seqs) == list(range(1, 21))
    assert len(journal.rounds) < 20
    await host.close()


async def test_restart_rebuilds_exactly_the_acknowledged_state() -> None:
    journal, fatal = MemoryJournal(), list[BaseException]()
    host = await start(journal, fatal, every=7)
    for i in range(30):
        await host.submit([Join(f"u{i}"), Leave(f"u{i - 3}") if i % 4 == 0 else
                           Heartbeat(f"u{i}")])
    expected = unpack(pack(host.state.snapshot()))
    await host.close()
    assert journal.snapshot is not None and 0 < journal.snapshot[0] < 30
    assert journal.entries, "a journal tail is left to replay"
    again = await start(journal, fatal)
    assert unpack(pack(again.state.snapshot())) == expected
    assert again.seq >= 30
    await again.close()


async def test_a_failed_write_stops_the_shard() -> None:
    journal, fatal = MemoryJournal(), list[BaseException]()
    host = await start(journal, fatal)
    await host.submit([Join("a")])
    journal.fail = True
    with pytest.raises(ShardUnavailable):
        await host.submit([Join("b")])
    assert len(fatal) == 1
    with pytest.raises(ShardUnavailable):
        await host.submit([Join("c")])
    journal.fail = False
    again = await start(journal, [])
    assert again.state.room.status("a").state == "waiting"  # type: ignore[attr-defined]
    assert again.state.room.status("b").state == "none"  # type: ignore[attr-defined]
    await again.close()
    await host.close()


async def test_commands_that_change_nothing_are_not_journaled() -> None:
    journal, fatal = MemoryJournal(), list[BaseException]()
    host = await start(journal, fatal)
    await host.submit([Join("a")])
    before = len(journal.entries)
    outcomes = await host.submit([Heartbeat("a"), Leave("nobody")])
    assert outcomes[0] is False
    assert len(journal.entries) == before
    await host.close()
