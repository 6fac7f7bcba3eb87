"""A shard rebuilt from a snapshot plus the journaled commands after it equals the original.

This is what lets a restarted actor come back with exactly what it acknowledged."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import msgpack
import msgspec
from hypothesis import given, settings

from engine.core.clock import ManualClock
from engine.core.command_wire import decode_queue_batch, decode_seat_batch, encode
from engine.core.command_wire import queue_commands as typed_queue_commands
from engine.core.command_wire import seat_commands as typed_seat_commands
from engine.core.commands import HoldBest, Join, QueueCommand, SeatCommand
from engine.core.errors import InvalidCommand
from engine.core.inventory import HoldPolicy, HoldView, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.shard_state import QueueShardState, SeatShardState
from engine.core.waiting_room import QueuePolicy, WaitingRoom

from ..helpers import small_venue

VENUE = small_venue(ga=4)
SEATS = [s.id for s in VENUE.seats()]
USERS = ["a", "b", "c"]


def seat_state(clock: ManualClock) -> SeatShardState:
    inv = SeatInventory(VENUE, HoldPolicy(ttl=20, extension=10, max_lifetime=40), clock,
                        hold_prefix="r")
    return SeatShardState(inv, TicketLedger(4, clock))


def roundtrip(data: Any) -> Any:
    return msgpack.unpackb(msgpack.packb(data, use_bin_type=True), raw=False,
                           strict_map_key=False)


def through_journal(journal: list[tuple[float, list[Any]]]) -> list[tuple[float, list[Any]]]:
    """The entries as a restarted shard reads them: encoded, then decoded raw."""
    return msgpack.unpackb(encode(journal), raw=False, strict_map_key=False)


seat_commands = st.one_of(
    st.tuples(st.just("hold"), st.sampled_from(USERS),
              st.lists(st.sampled_from(SEATS), min_size=1, max_size=2, unique=True),
              st.text("xyz", min_size=1, max_size=2)),
    st.tuples(st.just("hold_best"), st.sampled_from(USERS), st.integers(1, 3),
              st.text("xyz", min_size=1, max_size=2)),
    st.tuples(st.just("hold_ga"), st.sampled_from(USERS), st.just("GA"), st.integers(1, 2),
              st.text("xyz", min_size=1, max_size=2)),
    st.tuples(st.sampled_from(["confirm", "release", "extend"]), st.sampled_from(USERS),
              st.sampled_from([f"r-{i}" for i in range(1, 8)]),
              st.text("xyz", min_size=1, max_size=2)),
    st.tuples(st.just("quota_reserve"), st.sampled_from(USERS), st.text("pq", min_size=1,
              max_size=2), st.integers(1, 3), st.just(1e9)),
    st.tuples(st.sampled_from(["quota_commit", "quota_release"]), st.sampled_from(USERS),
              st.text("pq", min_size=1, max_size=2)),
    st.tuples(st.just("sweep")),
).map(lambda t: msgspec.convert(list(t), SeatCommand))


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from([0.0, 0.5, 5.0, 15.0]), st.lists(seat_commands,
                   min_size=1, max_size=4)), min_size=1, max_size=25),
    cut=st.integers(0, 25),
)
def test_seat_shard_replays_to_the_same_state(steps: list[Any], cut: int) -> None:
    clock = ManualClock(100.0)
    live = seat_state(clock)
    journal: list[tuple[float, list[Any]]] = []
    snapshot = roundtrip(live.snapshot())
    snap_at = 0
    for k, (dt, batch) in enumerate(steps):
        if k == cut:
            snapshot, snap_at = roundtrip(live.snapshot()), len(journal)
        clock.advance(dt)
        entry = []
        for cmd in batch:
            _, to_journal = live.apply(cmd)
            if to_journal is not None:
                entry.append(to_journal)
        if entry:
            journal.append((clock.now(), entry))

    replay_clock = ManualClock(0.0)
    copy = seat_state(replay_clock)
    copy.restore(snapshot)
    for now, entry in through_journal(journal[snap_at:]):
        replay_clock.set(now)
        for cmd in typed_seat_commands(entry):
            copy.apply(cmd)
    assert roundtrip(copy.snapshot()) == roundtrip(live.snapshot())
    replay_clock.set(clock.now())
    probe = HoldBest("c", 1, "probe")
    a, b = live.apply(probe)[0], copy.apply(probe)[0]
    assert type(a) is type(b)
    if isinstance(a, HoldView):
        assert a == b


queue_commands = st.one_of(
    st.tuples(st.sampled_from(["join", "leave", "complete", "heartbeat"]),
              st.sampled_from([f"q{i}" for i in range(6)])),
    st.tuples(st.just("heartbeat_many"), st.lists(st.sampled_from([f"q{i}" for i in range(6)]),
                                                  max_size=6, unique=True)),
    st.tuples(st.just("tick")),
).map(lambda t: msgspec.convert(list(t), QueueCommand))


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from([0.0, 0.3, 1.0, 4.0, 12.0]),
                             st.lists(queue_commands, min_size=1, max_size=4)),
                   min_size=1, max_size=30),
    cut=st.integers(0, 30),
)
def test_queue_shard_replays_to_the_same_state(steps: list[Any], cut: int) -> None:
    def make(clock: ManualClock) -> QueueShardState:
        return QueueShardState(WaitingRoom(
            QueuePolicy(admission_rate=1.5, active_cap=2, heartbeat_timeout=10,
                        session_ttl=15), clock, opens_at=105.0, seed="ab" * 8))

    clock = ManualClock(100.0)
    live = make(clock)
    journal: list[tuple[float, list[Any]]] = []
    snapshot = roundtrip(live.snapshot())
    snap_at = 0
    for k, (dt, batch) in enumerate(steps):
        if k == cut:
            snapshot, snap_at = roundtrip(live.snapshot()), len(journal)
        clock.advance(dt)
        entry = [j for cmd in batch if (j := live.apply(cmd)[1]) is not None]
        if entry:
            journal.append((clock.now(), entry))

    replay_clock = ManualClock(0.0)
    copy = make(replay_clock)
    copy.restore(snapshot)
    for now, entry in through_journal(journal[snap_at:]):
        replay_clock.set(now)
        for cmd in typed_queue_commands(entry):
            copy.apply(cmd)
    assert roundtrip(copy.snapshot()) == roundtrip(live.snapshot())
    replay_clock.set(clock.now())
    assert copy.room.summary() == live.room.summary()


def test_malformed_commands_in_a_batch_are_refused_one_by_one() -> None:
    good = ["hold_best", "a", 1, "k"]
    bad: list[Any] = [[], ["hold"], ["hold", "a", ["A-1-1"]], "hold", None, ["nope", 1],
                      ["hold_best", "a", "two", "k"], ["join", "a"]]
    decoded = decode_seat_batch(msgpack.packb([good, *bad, good]))
    assert decoded[0] == decoded[-1] == HoldBest("a", 1, "k")
    assert all(isinstance(d, InvalidCommand) for d in decoded[1:-1])
    queue = decode_queue_batch(msgpack.packb([["join"], ["join", "a"], ["hold", "a"]]))
    assert isinstance(queue[0], InvalidCommand) and isinstance(queue[2], InvalidCommand)
    assert queue[1] == Join("a")
