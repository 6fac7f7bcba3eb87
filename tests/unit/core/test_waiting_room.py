from __future__ import annotations

import hashlib

import pytest

from engine.core import events as ev
from engine.core.clock import ManualClock
from engine.core.errors import InvalidCommand, NotAdmitted, NotInQueue, QueueClosed
from engine.core.waiting_room import (
    QueuePolicy,
    QueueSummary,
    WaitingRoom,
    prequeue_order,
    seed_commitment,
)

SEED = "5eed" * 8


def make(rate: float = 2.0, cap: int = 100, opens_at: float = 0.0, **kw: float) -> tuple[
        WaitingRoom, ManualClock]:
    clock = ManualClock(10.0)
    policy = QueuePolicy(admission_rate=rate, active_cap=cap, **kw)  # type: ignore[arg-type]
    return WaitingRoom(policy, clock, opens_at=opens_at, seed=SEED), clock


def test_join_is_idempotent_and_positions_are_exact() -> None:
    room, _ = make()
    for u in "abcd":
        room.join(u)
    assert room.join("c") == room.status("c")
    assert [room.status(u).position for u in "abcd"] == [0, 1, 2, 3]
    room.leave("b")
    assert [room.position(u) for u in "acd"] == [0, 1, 2]
    assert room.status("b").state == "left"
    rejoined = room.join("b")
    assert rejoined.seq == 4 and rejoined.position == 3


def test_admission_follows_join_order_at_the_rate() -> None:
    room, clock = make(rate=2.0, heartbeat_timeout=1_000.0)
    for u in "abcdef":
        room.join(u)
    clock.advance(1.0)
    assert [a[0] for a in room.tick().admitted] == ["a", "b"]
    assert room.tick().admitted == ()
    clock.advance(0.5)
    assert [a[0] for a in room.tick().admitted] == ["c"]
    clock.advance(100.0)
    assert [a[0] for a in room.tick().admitted] == ["d", "e"]
    assert room.status("d").state == "admitted"
    assert room.status("f").position == 0


def test_active_cap_bounds_admission_and_sessions_end() -> None:
    room, clock = make(rate=100.0, cap=2, session_ttl=60.0)
    for u in "abcd":
        room.join(u)
    clock.advance(1.0)
    assert len(room.tick().admitted) == 2
    clock.advance(1.0)
    assert room.tick().admitted == ()
    room.complete("a")
    assert [a[0] for a in room.tick().admitted] == ["c"]
    room.leave("b")
    assert [a[0] for a in room.tick().admitted] == ["d"]
    clock.advance(60.0)
    result = room.tick()
    assert result.expired == 2
    assert room.status("c").state == "expired" and room.counts()["active"] == 0
    with pytest.raises(NotAdmitted):
        room.complete("c")


def test_silent_waiters_are_dropped_and_never_admitted() -> None:
    room, clock = make(rate=1.0, heartbeat_timeout=30.0)
    room.join("quiet")
    room.join("alive")
    for _ in range(5):
        clock.advance(10.0)
        room.heartbeat("alive")
    result = room.tick()
    assert result.dropped == 1
    assert [a[0] for a in result.admitted] == ["alive"]
    assert room.status("quiet").state == "dropped"
    assert any(isinstance(e, ev.UserDropped) for e in room.pull_events())


def test_heartbeat_changes_state_once_per_interval() -> None:
    room, clock = make()
    room.join("a")
    assert room.heartbeat("a") is False
    clock.advance(1.0)
    assert room.heartbeat("a") is True
    assert room.heartbeat_many(["a", "ghost"]) == []
    clock.advance(1.0)
    assert room.heartbeat_many(["a", "ghost"]) == ["a"]


def test_prequeue_is_shuffled_verifiably_at_opening() -> None:
    room, clock = make(rate=1000.0, opens_at=100.0)
    users = [f"user-{i}" for i in range(50)]
    for u in users:
        assert room.join(u).state == "prequeue"
    assert room.summary().seed is None
    assert room.summary().seed_commitment == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()
    clock.set(100.0)
    room.heartbeat_many(users)
    result = room.tick()
    assert result.opened
    order = prequeue_order(room.seed or "", users)
    assert order != users
    assert seed_commitment(room.seed or "") == room.seed_commitment
    assert [room.status(u).seq for u in order] == list(range(50))
    clock.advance(1.0)
    assert [a[0] for a in room.tick().admitted] == order
    late = room.join("late")
    assert late.seq == 50


def test_eta_uses_the_observed_rate() -> None:
    room, clock = make(rate=10.0, cap=1000)
    for i in range(100):
        room.join(f"u{i}")
    for _ in range(5):
        clock.advance(1.0)
        room.heartbeat_many([f"u{i}" for i in range(100)])
        room.tick()
    assert room.observed_rate() == pytest.approx(10.0, rel=0.25)
    status = room.status("u99")
    assert status.position == 49
    assert status.eta_s == pytest.approx(49 / room.observed_rate())


def test_summary_answers_positions_like_the_room() -> None:
    room, clock = make(rate=3.0)
    for i in range(40):
        room.join(f"u{i}")
    for u in ("u5", "u17", "u30"):
        room.leave(u)
    clock.advance(1.0)
    room.tick()
    summary = QueueSummary.from_list(room.summary().to_list())
    for i in range(40):
        status = room.status(f"u{i}")
        if status.state == "waiting":
            assert summary.position(status.seq) == status.position
        else:
            assert summary.position(status.seq) is None
    assert summary.waiting == 34 and summary.active == 3


def test_closed_queue_refuses_joins() -> None:
    room, _ = make()
    room.close()
    with pytest.raises(QueueClosed):
        room.join("a")
    with pytest.raises(NotInQueue):
        room.leave("a")
    with pytest.raises(InvalidCommand):
        room.join("")


def test_idle_ticks_change_nothing() -> None:
    room, clock = make()
    room.join("a")
    clock.advance(1.0)
    room.tick()
    before = room.snapshot()
    clock.advance(0.1)
    assert not room.tick().changed
    assert room.snapshot() == before


def test_snapshot_restore_round_trip() -> None:
    room, clock = make(rate=2.0, opens_at=20.0)
    for i in range(10):
        room.join(f"u{i}")
    clock.set(21.0)
    room.heartbeat_many([f"u{i}" for i in range(10)])
    room.tick()
    room.leave("u3")
    copy, _ = make()
    copy._clock = clock
    copy.restore(room.snapshot())
    assert copy.snapshot() == room.snapshot()
    assert copy.summary() == room.summary()
    clock.advance(2.0)
    assert copy.tick() == room.tick()
    assert copy.snapshot() == room.snapshot()
