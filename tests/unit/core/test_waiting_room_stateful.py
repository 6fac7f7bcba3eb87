"""Random joins, leaves, heartbeats, purchases and ticks against a plain FIFO model.

At every step positions are exact (users ahead still waiting), admissions follow join order
(after the pre-queue shuffle), silent users are never admitted, and the cap holds."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from engine.core.clock import ManualClock
from engine.core.errors import NotAdmitted, NotInQueue
from engine.core.waiting_room import QueuePolicy, WaitingRoom, prequeue_order

USERS = [f"u{i}" for i in range(8)]
SEED = "c0ffee" * 6
TIMEOUT = 20.0
CAP = 3
OPENS_AT = 15.0


class WaitingRoomMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(0.0)
        self.room = WaitingRoom(
            QueuePolicy(admission_rate=1.0, active_cap=CAP, heartbeat_timeout=TIMEOUT,
                        session_ttl=40.0),
            self.clock,
            opens_at=OPENS_AT,
            seed=SEED,
        )
        self.line: list[str] = []  # waiting users in admission order (after opening)
        self.pre: list[str] = []  # pre-queued users in join order
        self.beat: dict[str, int] = {}
        self.active: dict[str, float] = {}  # user -> session expiry
        self.opened = False

    def now(self) -> float:
        return self.clock.now()

    def open_if_due(self) -> None:
        if not self.opened and self.now() >= OPENS_AT:
            self.opened = True
            self.line = prequeue_order(SEED, self.pre)
            self.pre = []

    def drop_silent(self) -> None:
        cutoff = int((self.now() - TIMEOUT) // 1.0)
        for u in [u for u in self.line + self.pre if self.beat[u] < cutoff]:
            (self.line if u in self.line else self.pre).remove(u)

    @rule(user=st.sampled_from(USERS))
    def join(self, user: str) -> None:
        status = self.room.join(user)
        self.open_if_due()
        if user in self.active:
            assert status.state == "admitted"
            return
        if user in self.line or user in self.pre:
            assert status.state in ("waiting", "prequeue")
        elif self.opened:
            self.line.append(user)
        else:
            self.pre.append(user)
        self.beat[user] = int(self.now())

    @rule(user=st.sampled_from(USERS))
    def leave(self, user: str) -> None:
        try:
            self.room.leave(user)
        except NotInQueue:
            assert user not in self.line and user not in self.pre and user not in self.active
            return
        for group in (self.line, self.pre):
            if user in group:
                group.remove(user)
        self.active.pop(user, None)

    @rule(users=st.lists(st.sampled_from(USERS), unique=True))
    def heartbeat(self, users: list[str]) -> None:
        self.room.heartbeat_many(users)
        for u in users:
            if u in self.line or u in self.pre:
                self.beat[u] = int(self.now())

    @rule(user=st.sampled_from(USERS))
    def complete(self, user: str) -> None:
        try:
            self.room.complete(user)
        except NotAdmitted:
            assert user not in self.active
            return
        del self.active[user]

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 7.0, 19.5, 20.0, 25.0]))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        result = self.room.tick()
        self.open_if_due()
        self.drop_silent()
        for user, expiry in list(self.active.items()):
            if expiry <= self.now():
                del self.active[user]
        admitted = [a[0] for a in result.admitted]
        assert admitted == self.line[: len(admitted)], (admitted, self.line)
        for user, _, expiry in result.admitted:
            self.line.remove(user)
            self.active[user] = expiry
        if self.line and len(self.active) < CAP:
            assert admitted or seconds < 1.0 or result.opened, "admission stalled"

    @invariant()
    def positions_are_exact(self) -> None:
        summary = self.room.summary()
        for k, user in enumerate(self.line):
            status = self.room.status(user)
            assert status.state == "waiting" and status.position == k, (user, status, k)
            assert summary.position(status.seq) == k
        for user in self.pre:
            assert self.room.status(user).state == "prequeue"
        assert len(self.active) <= CAP
        assert self.room.counts()["active"] == len(self.active)
        assert self.room.counts()["waiting"] == len(self.line)


WaitingRoomMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWaitingRoomMachine = WaitingRoomMachine.TestCase
