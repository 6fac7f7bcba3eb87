"""Journal entries of the first format (untyped `(op, *args)` tuples, written by the engine
before commands were typed: `tests/data/journal_format1.msgpack`) replay to the very state the
shards that wrote them reached, and today's entries carry their format."""

from __future__ import annotations

import pathlib
from typing import Any

import msgpack
import pytest

from engine.core.clock import ManualClock
from engine.core.command_wire import (
    JOURNAL_FORMAT,
    encode,
    entry_time_and_commands,
    queue_commands,
    seat_commands,
)
from engine.core.commands import Hold, Join, Sweep
from engine.core.inventory import HoldPolicy, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.shard_state import QueueShardState, SeatShardState
from engine.core.waiting_room import QueuePolicy, WaitingRoom
from tests.data.journal_venue import venue

WRITTEN = msgpack.unpackb(
    (pathlib.Path(__file__).parents[2] / "data" / "journal_format1.msgpack").read_bytes(),
    raw=False, strict_map_key=False)


def plain(value: Any) -> Any:
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False,
                           strict_map_key=False)


def test_seat_entries_of_the_first_format_replay_to_the_state_that_wrote_them() -> None:
    clock = ManualClock(1_000.0)
    policy = HoldPolicy(ttl=30.0, extension=10.0, max_lifetime=60.0, user_limit=4)
    state = SeatShardState(SeatInventory(venue(), policy, clock, hold_prefix="0.h"),
                           TicketLedger(policy.user_limit, clock))
    entries = WRITTEN["seat"]["entries"]
    assert all(len(msgpack.unpackb(e)) == 2 for e in entries)  # [now, commands]
    for payload in entries:
        now, raw = entry_time_and_commands(msgpack.unpackb(payload, raw=False))
        clock.set(now)
        for cmd in seat_commands(raw):
            state.apply(cmd)
    expected = WRITTEN["seat"]["state"]
    assert plain(state.snapshot()) == expected
    assert state.inventory.policy.user_limit == 3  # the set_policy entry was applied
    assert state.inventory.totals()["held"] > 0 and len(expected["inventory"]["closed"]) == 2


def test_queue_entries_of_the_first_format_replay_to_the_state_that_wrote_them() -> None:
    clock = ManualClock(1_000.0)
    state = QueueShardState(WaitingRoom(QueuePolicy(), clock, opens_at=1_001.5, seed="ab" * 8))
    for payload in WRITTEN["queue"]["entries"]:
        now, raw = entry_time_and_commands(msgpack.unpackb(payload, raw=False))
        clock.set(now)
        for cmd in queue_commands(raw):
            state.apply(cmd)
    assert plain(state.snapshot()) == WRITTEN["queue"]["state"]
    assert state.room.policy.active_cap == 3


def test_entries_written_now_carry_their_format_and_read_back() -> None:
    commands = [Hold("u", ("A-1-1",), "k"), Sweep()]
    entry = msgpack.unpackb(encode([JOURNAL_FORMAT, 5.0, commands]), raw=False)
    assert entry[0] == JOURNAL_FORMAT
    now, raw = entry_time_and_commands(entry)
    assert now == 5.0 and seat_commands(raw) == commands
    assert queue_commands(entry_time_and_commands([1.0, [["join", "a"]]])[1]) == [Join("a")]


def test_an_entry_of_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        entry_time_and_commands([JOURNAL_FORMAT + 1, 5.0, []])
