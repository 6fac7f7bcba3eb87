"""The router's rules over an event's shards, in process: best available over several shards
takes what one shard of the whole venue would, a hold costs one round trip, the per-user
limit holds across shards, and no user ever buys more than the limit even when shards crash
between the router's steps (a Hypothesis state machine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from engine.core.commands import Hold
from engine.core.errors import DomainError, HoldExpired, NotEnoughSeats, UserLimitExceeded
from engine.core.ids import HoldPart, hold_digest, quota_ref
from engine.core.inventory import HoldPolicy, HoldView
from engine.core.ledger import home_shard
from engine.core.venue import Section, Venue
from engine.router.seats import SeatRouter

from ..helpers import row, small_venue
from ..local_shards import Down, LocalSeatShards

POLICY = HoldPolicy(user_limit=4)


async def open_router(venue: Venue, shards: int) -> tuple[SeatRouter, LocalSeatShards]:
    local = LocalSeatShards(venue, shards, POLICY)
    await local.start()
    return SeatRouter(local, local.infos(), hint_refresh_s=0.0), local


@pytest.fixture
async def three() -> AsyncIterator[tuple[SeatRouter, LocalSeatShards]]:
    router, local = await open_router(small_venue(ga=6), 3)
    yield router, local
    await router.close()
    await local.close()


def user_at_home(shard: int, shards: int, start: int = 0) -> str:
    return next(f"user-{n}" for n in range(start, 10_000) if home_shard(f"user-{n}", shards)
                == shard)


def shard_of_section(local: LocalSeatShards, section: str) -> int:
    return next(k for k, v in enumerate(local.venues) if section in {s.id for s in v.sections})


async def test_a_hold_on_the_users_home_shard_is_one_command(
        three: tuple[SeatRouter, LocalSeatShards]) -> None:
    router, local = three
    k = shard_of_section(local, "A")
    user = user_at_home(k, 3)
    local.calls.clear()
    view = await router.hold(user, ["A-1-1", "A-1-2"], "key")
    assert view.seat_ids == ("A-1-1", "A-1-2")
    assert local.calls == [(k, "with_quota")]
    assert local.state(k).ledger.count(user) == 2


async def test_a_hold_elsewhere_reserves_its_quota_in_the_same_round_trip(
        three: tuple[SeatRouter, LocalSeatShards]) -> None:
    router, local = three
    k = shard_of_section(local, "A")
    home = (k + 1) % 3
    user = user_at_home(home, 3)
    local.calls.clear()
    local.most_in_flight = 0
    await router.hold(user, ["A-2-3"], "key")
    assert sorted(local.calls) == sorted([(k, "hold"), (home, "quota_reserve")])
    assert local.most_in_flight == 2
    assert local.state(home).ledger.count(user) == 1


async def test_over_the_limit_the_parallel_hold_is_undone_and_stays_refused(
        three: tuple[SeatRouter, LocalSeatShards]) -> None:
    router, local = three
    a, b = shard_of_section(local, "A"), shard_of_section(local, "B")
    user = user_at_home(next(k for k in range(3) if k not in (a, b)), 3)
    first = await router.hold(user, ["A-1-1", "A-1-2", "A-1-3"], "first")
    with pytest.raises(UserLimitExceeded):
        await router.hold(user, ["B-1-1", "B-1-2"], "second")
    assert local.state(b).inventory.totals()["held"] == 0
    await router.release(user, first.hold_id, "release")
    with pytest.raises(UserLimitExceeded):  # the same request again: the same answer
        await router.hold(user, ["B-1-1", "B-1-2"], "second")
    assert (await router.hold(user, ["B-1-1", "B-1-2"], "third")).seat_ids == (
        "B-1-1", "B-1-2")


async def test_a_hold_without_quota_can_never_be_bought(
        three: tuple[SeatRouter, LocalSeatShards]) -> None:
    """What a router that died between a refused reservation and its undo leaves behind."""
    router, local = three
    a = shard_of_section(local, "A")
    user = user_at_home((a + 1) % 3, 3)
    orphan = str(HoldPart(a, hold_digest(user, "lost", "hold", ["A-3-1"])))
    held = await local.call(a, Hold(user, ("A-3-1",), "lost", orphan))
    assert isinstance(held, HoldView)
    with pytest.raises(HoldExpired):
        await router.confirm(user, orphan, "pay")
    assert local.state(a).inventory.sales() == []


async def test_best_available_asks_shards_for_their_best_and_takes_the_best(
        three: tuple[SeatRouter, LocalSeatShards]) -> None:
    router, local = three
    user = user_at_home(shard_of_section(local, "B"), 3)
    view = await router.hold_best(user, 2, "best")
    assert view.seat_ids == ("A-1-3", "A-1-4")  # section A is nearer the stage than B
    calls = [op for _, op in local.calls]
    assert calls.count("best_key") == 2 and calls.count("best_hold") == 1
    local.calls.clear()
    await router.hold_best(user_at_home(0, 3, start=50), 2, "again")
    assert [op for _, op in local.calls if op != "quota_reserve"] == ["best_hold"]


def two_sections() -> Venue:
    """Two sections whose rows interleave in distance, so the best block moves between
    them (and between shards) as seats go."""
    a = Section("A", "A", tuple(row("A", str(r + 1), 7, y=10.0 + 2 * r, x0=-3.0)
                                for r in range(4)))
    b = Section("B", "B", tuple(row("B", str(r + 1), 5, y=11.0 + 2 * r, x0=-2.2)
                                for r in range(4)))
    return Venue("two", (a, b))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 30)), min_size=1, max_size=25))
def test_several_shards_choose_as_one_shard_of_the_whole_venue(
        requests: list[tuple[int, int]]) -> None:
    asyncio.run(_compare(requests, 2))


async def _compare(requests: list[tuple[int, int]], shards: int) -> None:
    one, one_local = await open_router(two_sections(), 1)
    many, many_local = await open_router(two_sections(), shards)
    try:
        for n, (count, named) in enumerate(requests):
            user = f"u{n}"
            if named % 4 == 0:  # someone names a seat, breaking a row up
                seat = f"{'AB'[named % 2]}-{named % 4 + 1}-{named % 5 + 1}"
                outcomes = []
                for router in (one, many):
                    try:
                        outcomes.append((await router.hold(user, [seat], "named")).seat_ids)
                    except DomainError as err:
                        outcomes.append(err.code)
                assert outcomes[0] == outcomes[1]
                continue
            await many.settle()  # what this router changed, its hints have heard of
            try:
                alone = (await one.hold_best(user, count, "best")).seat_ids
            except NotEnoughSeats:
                with pytest.raises(NotEnoughSeats):
                    await many.hold_best(user, count, "best")
                continue
            rows = {s.rsplit("-", 1)[0] for s in alone}
            if len(rows) > 1:
                return  # single seats taken apart: each shard answers its own nearest
            assert (await many.hold_best(user, count, "best")).seat_ids == alone
    finally:
        for router, local in ((one, one_local), (many, many_local)):
            await router.close()
            await local.close()


# ---------------------------------------------------------------------------- crashes

USERS = ["u1", "u2", "u3"]
KEYS = ["k1", "k2", "k3"]
VENUE = small_venue(ga=6)
SEATS = [s.id for s in VENUE.seats()]


class RouterMachine(RuleBasedStateMachine):
    """Random holds, purchases and releases through the router, while shards crash before
    or after applying a command (the router sees the call fail), and restart from their
    journals. Keys are few, so requests are retried with the same key."""

    SHARDS = 3

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.local = LocalSeatShards(VENUE, self.SHARDS, POLICY)
        self.run(self.local.start())
        self.router = SeatRouter(self.local, self.local.infos())
        self.given: dict[str, HoldView] = {}  # holds the router handed out, by hold id

    def run(self, job: Any) -> Any:
        return self.loop.run_until_complete(job)

    def attempt(self, job: Any) -> Any:
        try:
            return self.run(job)
        except (DomainError, Down) as exc:
            return exc

    @rule(user=st.sampled_from(USERS), key=st.sampled_from(KEYS),
          seats=st.lists(st.sampled_from(SEATS), min_size=1, max_size=3, unique=True))
    def hold_named(self, user: str, key: str, seats: list[str]) -> None:
        out = self.attempt(self.router.hold(user, seats, f"n-{key}-{len(seats)}"))
        if isinstance(out, HoldView):
            self.given[out.hold_id] = out

    @rule(user=st.sampled_from(USERS), key=st.sampled_from(KEYS), count=st.integers(1, 3),
          grade=st.sampled_from([None, "R", "S"]))
    def hold_best(self, user: str, key: str, count: int, grade: str | None) -> None:
        out = self.attempt(self.router.hold_best(user, count, f"b-{key}-{count}-{grade}",
                                                 grade=grade))
        if isinstance(out, HoldView):
            self.given[out.hold_id] = out

    @rule(user=st.sampled_from(USERS), key=st.sampled_from(KEYS), quantity=st.integers(1, 3))
    def hold_standing(self, user: str, key: str, quantity: int) -> None:
        out = self.attempt(self.router.hold_ga(user, "GA", quantity, f"g-{key}-{quantity}"))
        if isinstance(out, HoldView):
            self.given[out.hold_id] = out

    def holds_anywhere(self) -> dict[str, str]:
        """Every hold the router handed out, and every part held in a shard (a hold the
        router did not hand out, left by a failure, is tried too): hold id -> user."""
        found = {hold_id: view.user_id for hold_id, view in self.given.items()}
        for k in range(self.SHARDS):
            for view in self.local.state(k).inventory.holds():
                found.setdefault(view.hold_id, view.user_id)
        return found

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def confirm(self, data: st.DataObject, key: str) -> None:
        holds = self.holds_anywhere()
        if holds:
            hold = data.draw(st.sampled_from(sorted(holds)))
            self.attempt(self.router.confirm(holds[hold], hold, f"c-{key}"))

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def release(self, data: st.DataObject, key: str) -> None:
        if self.given:
            hold = data.draw(st.sampled_from(sorted(self.given)))
            self.attempt(self.router.release(self.given[hold].user_id, hold, f"r-{key}"))

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def refund(self, data: st.DataObject, key: str) -> None:
        if self.given:
            hold = data.draw(st.sampled_from(sorted(self.given)))
            self.attempt(self.router.cancel_sale(self.given[hold].user_id, hold, f"x-{key}"))

    @rule(shard=st.integers(0, SHARDS - 1), when=st.sampled_from(["before", "after"]))
    def fail_next_call(self, shard: int, when: str) -> None:
        self.local.faults[shard % self.SHARDS] = when

    @rule(shard=st.integers(0, SHARDS - 1))
    def crash(self, shard: int) -> None:
        self.run(self.local.crash(shard % self.SHARDS))

    @invariant()
    def nobody_buys_or_is_handed_more_than_the_limit(self) -> None:
        states = [self.local.state(k) for k in range(self.SHARDS)]
        for user in USERS:
            home = states[home_shard(user, self.SHARDS)].ledger
            sold = sum(s.tickets for state in states for s in state.inventory.sales()
                       if s.user_id == user)
            assert sold <= POLICY.user_limit
            assert home.count(user) <= POLICY.user_limit
            committed = sum(q.tickets for q in home._entries.values()
                            if q.user_id == user and q.expires_at is None)
            assert sold <= committed
        live = {h.hold_id for state in states for h in state.inventory.holds()}
        for hold_id, view in self.given.items():
            parts = hold_id.split("+")
            if all(p in live for p in parts):  # a hold handed out and still held has quota
                home = states[home_shard(view.user_id, self.SHARDS)].ledger
                quota = home._entries.get(quota_ref(hold_id))
                assert quota is not None and quota.tickets == view.tickets

    def teardown(self) -> None:
        self.run(self.router.close())
        self.run(self.local.close())
        self.loop.close()


class TwoShardMachine(RouterMachine):
    SHARDS = 2


RouterMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30,
                                           deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TwoShardMachine.TestCase.settings = RouterMachine.TestCase.settings
TestThreeShards = RouterMachine.TestCase
TestTwoShards = TwoShardMachine.TestCase
