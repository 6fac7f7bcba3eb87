"""Random sequences of seat commands against a plain reference model.

At every step: a seat has at most one holder and is sold at most once; held + sold + available
equals capacity; no user exceeds the limit; expired holds are gone; every refused command
changes nothing."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.core.clock import ManualClock
from engine.core.errors import (
    DomainError,
    HoldAlreadyConfirmed,
    HoldExpired,
    HoldNotOwned,
    HoldReleased,
    SeatUnavailable,
    UserLimitExceeded,
)
from engine.core.inventory import HoldPolicy, HoldView, SeatInventory

from ..helpers import small_venue

USERS = ["u1", "u2", "u3"]
LIMIT = 4
TTL = 50.0
VENUE = small_venue(ga=6)
SEATS = [s.id for s in VENUE.seats()]


class InventoryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(0.0)
        self.inv = SeatInventory(
            VENUE,
            HoldPolicy(ttl=TTL, extension=20, max_extensions=2, max_lifetime=80,
                       user_limit=LIMIT),
            self.clock,
            hold_prefix="m",
        )
        self.holds: dict[str, HoldView] = {}  # live holds, per the model
        self.sales: dict[str, HoldView] = {}
        self.closed: dict[str, str] = {}
        self.outcomes: dict[tuple[str, str], tuple[tuple[Any, ...], Any]] = {}
        self.keys = 0

    # ------------------------------------------------------------ model helpers

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def expire_model(self) -> None:
        now = self.clock.now()
        for hold_id, hold in list(self.holds.items()):
            if hold.expires_at <= now:
                del self.holds[hold_id]
                self.closed[hold_id] = "expired"

    def tickets(self, user: str) -> int:
        return sum(h.tickets for h in [*self.holds.values(), *self.sales.values()]
                   if h.user_id == user)

    def seat_owner(self) -> dict[str, str]:
        owner = {}
        for h in [*self.holds.values(), *self.sales.values()]:
            for s in h.seat_ids:
                assert s not in owner, f"seat {s} has two holders"
                owner[s] = h.hold_id
        return owner

    def run(self, user: str, key: str, fingerprint: tuple[Any, ...], action: Any) -> Any:
        """Runs a command; a refused one must leave the state exactly as it was."""
        before = self.inv.snapshot()
        try:
            result = action()
        except DomainError as err:
            after = self.inv.snapshot()
            before["idem"] = after["idem"] = None
            assert after == before, f"refused {fingerprint} changed state"
            self.outcomes[(user, key)] = (fingerprint, err)
            return err
        self.outcomes[(user, key)] = (fingerprint, result)
        return result

    # ------------------------------------------------------------ rules

    @rule(user=st.sampled_from(USERS), seats=st.lists(st.sampled_from(SEATS), min_size=1,
                                                       max_size=3, unique=True))
    def hold_named(self, user: str, seats: list[str]) -> None:
        self.expire_model()
        key = self.key()
        taken = self.seat_owner()
        expect_ok = not any(s in taken for s in seats) and self.tickets(user) + len(seats) <= LIMIT
        out = self.run(user, key, ("hold", tuple(seats)),
                       lambda: self.inv.hold(user, seats, key))
        if expect_ok:
            assert isinstance(out, HoldView), out
            assert out.seat_ids == tuple(seats)
            self.holds[out.hold_id] = out
        else:
            assert isinstance(out, SeatUnavailable | UserLimitExceeded), out

    @rule(user=st.sampled_from(USERS), count=st.integers(1, 3),
          section=st.sampled_from([None, "A", "B"]))
    def hold_best(self, user: str, count: int, section: str | None) -> None:
        self.expire_model()
        key = self.key()
        self.inv.sweep()
        states = self.inv.seat_states()
        best = self.inv.selector.reference(states, count, self.inv.section_index(section))
        out = self.run(user, key, ("hold_best", count, section, None),
                       lambda: self.inv.hold_best(user, count, key, section))
        if isinstance(out, HoldView):
            assert best is not None
            assert out.seat_ids == tuple(self.inv.seat_ids[i] for i in best)
            taken = self.seat_owner()
            assert len(out.seat_ids) == count
            assert not any(s in taken for s in out.seat_ids)
            if section:
                assert all(s.startswith(section + "-") for s in out.seat_ids)
            assert self.tickets(user) + count <= LIMIT
            self.holds[out.hold_id] = out
        else:
            free = [s for s in SEATS if s not in self.seat_owner()
                    and (section is None or s.startswith(section + "-"))]
            assert self.tickets(user) + count > LIMIT or len(free) < count, out

    @rule(user=st.sampled_from(USERS), qty=st.integers(1, 3))
    def hold_ga(self, user: str, qty: int) -> None:
        self.expire_model()
        key = self.key()
        out = self.run(user, key, ("hold_ga", "GA", qty),
                       lambda: self.inv.hold_ga(user, "GA", qty, key))
        used = sum(q for h in [*self.holds.values(), *self.sales.values()] for _, q in h.ga)
        expect_ok = used + qty <= 6 and self.tickets(user) + qty <= LIMIT
        assert isinstance(out, HoldView) == expect_ok, out
        if isinstance(out, HoldView):
            self.holds[out.hold_id] = out

    def _pick(self, data: st.DataObject) -> str:
        known = sorted([*self.holds, *self.sales, *self.closed]) or ["m-404"]
        return data.draw(st.sampled_from([*known, "m-404"]))

    @rule(data=st.data(), user=st.sampled_from(USERS))
    def confirm(self, data: st.DataObject, user: str) -> None:
        self.expire_model()
        hold_id = self._pick(data)
        key = self.key()
        out = self.run(user, key, ("confirm", hold_id),
                       lambda: self.inv.confirm(user, hold_id, key))
        if hold_id in self.holds and self.holds[hold_id].user_id == user:
            assert isinstance(out, HoldView) and out.status == "sold", out
            self.sales[hold_id] = self.holds.pop(hold_id)
        elif hold_id in self.holds or (hold_id in self.sales
                                       and self.sales[hold_id].user_id != user):
            assert isinstance(out, HoldNotOwned), out
        elif hold_id in self.sales:
            assert isinstance(out, HoldAlreadyConfirmed), out
        elif self.closed.get(hold_id) == "expired":
            assert isinstance(out, HoldExpired | HoldNotOwned), out
        else:
            assert isinstance(out, DomainError), out

    @rule(data=st.data(), user=st.sampled_from(USERS))
    def release(self, data: st.DataObject, user: str) -> None:
        self.expire_model()
        hold_id = self._pick(data)
        key = self.key()
        out = self.run(user, key, ("release", hold_id),
                       lambda: self.inv.release(user, hold_id, key))
        if hold_id in self.holds and self.holds[hold_id].user_id == user:
            assert isinstance(out, HoldView), out
            del self.holds[hold_id]
            self.closed[hold_id] = "released"
        else:
            assert isinstance(out, DomainError), out
            if self.closed.get(hold_id) == "released" and out.code != "HOLD_NOT_OWNED":
                assert isinstance(out, HoldReleased)

    @rule(data=st.data())
    def cancel_sale(self, data: st.DataObject) -> None:
        """A refund: the sale's seats go back on sale."""
        hold_id = self._pick(data)
        sale = self.sales.get(hold_id)
        user = sale.user_id if sale else "u1"
        key = self.key()
        out = self.run(user, key, ("cancel_sale", hold_id),
                       lambda: self.inv.cancel_sale(user, hold_id, key))
        if sale is not None:
            assert isinstance(out, HoldView) and out.status == "cancelled", out
            del self.sales[hold_id]
            self.closed[hold_id] = "cancelled"
        else:
            assert isinstance(out, DomainError), out

    @rule()
    def restart(self) -> None:
        """The shard restarts from a snapshot: the best-available index is rebuilt."""
        restored = SeatInventory(VENUE, self.inv.policy, self.clock)
        restored.restore(self.inv.snapshot())
        self.inv = restored

    @rule(data=st.data())
    def extend(self, data: st.DataObject) -> None:
        self.expire_model()
        hold_id = self._pick(data)
        hold = self.holds.get(hold_id)
        user = hold.user_id if hold else "u1"
        key = self.key()
        out = self.run(user, key, ("extend", hold_id, None),
                       lambda: self.inv.extend(user, hold_id, key))
        if isinstance(out, HoldView):
            assert hold is not None
            assert hold.expires_at < out.expires_at <= hold.created_at + 80
            self.holds[hold_id] = out

    @precondition(lambda self: self.outcomes)
    @rule(data=st.data())
    def repeat_a_key(self, data: st.DataObject) -> None:
        """Replaying a key gives the first outcome and changes nothing."""
        (user, key) = data.draw(st.sampled_from(sorted(self.outcomes)))
        fingerprint, first = self.outcomes[(user, key)]
        before = self.inv.snapshot()
        op = fingerprint[0]
        try:
            if op == "hold":
                again: Any = self.inv.hold(user, list(fingerprint[1]), key)
            elif op == "hold_best":
                again = self.inv.hold_best(user, fingerprint[1], key, fingerprint[2])
            elif op == "hold_ga":
                again = self.inv.hold_ga(user, "GA", fingerprint[2], key)
            elif op == "confirm":
                again = self.inv.confirm(user, fingerprint[1], key)
            elif op == "release":
                again = self.inv.release(user, fingerprint[1], key)
            elif op == "cancel_sale":
                again = self.inv.cancel_sale(user, fingerprint[1], key)
            else:
                again = self.inv.extend(user, fingerprint[1], key)
        except DomainError as err:
            again = err
        after = self.inv.snapshot()
        assert again == first
        if before["holds"] == after["holds"]:
            before["idem"] = after["idem"] = None
            assert before == after

    @rule(seconds=st.sampled_from([1.0, 10.0, 30.0, 49.0, 60.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.inv.sweep()
        self.expire_model()

    # ------------------------------------------------------------ invariants

    @invariant()
    def matches_the_model(self) -> None:
        self.expire_model()
        owner = self.seat_owner()
        states = self.inv.seat_states()
        ids = self.inv.seat_ids
        for i, seat in enumerate(ids):
            expected = 0
            if seat in owner:
                expected = 2 if owner[seat] in self.sales else 1
            if expected == 1 and self.holds[owner[seat]].expires_at <= self.clock.now():
                continue
            assert states[i] == expected, (seat, states[i], expected)
        totals = self.inv.totals()
        assert totals["available"] + totals["held"] + totals["sold"] == totals["capacity"]
        assert totals["capacity"] == len(SEATS) + 6
        for user in USERS:
            assert self.inv.user_tickets(user) == self.tickets(user) <= LIMIT
        assert {h.hold_id for h in self.inv.sales()} == set(self.sales)

    @invariant()
    def best_available_is_the_references(self) -> None:
        states = self.inv.seat_states()
        selector = self.inv.selector
        for count in (1, 2, 4):
            for section in (None, 0, 1):
                assert selector.choose(count, section) == selector.reference(states, count,
                                                                             section)


InventoryMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestInventoryMachine = InventoryMachine.TestCase
