from __future__ import annotations

import msgpack
import pytest

from engine.core import events as ev
from engine.core.clock import ManualClock
from engine.core.errors import (
    DomainError,
    HoldAlreadyConfirmed,
    HoldExpired,
    HoldExtensionRefused,
    HoldNotFound,
    HoldNotOwned,
    HoldReleased,
    IdempotencyKeyReused,
    InvalidCommand,
    NotEnoughSeats,
    NotEnoughTickets,
    SeatUnavailable,
    UnknownSeat,
    UnknownSection,
    UnknownTicketType,
    UserLimitExceeded,
)
from engine.core.inventory import ConfirmedSale, HoldPolicy, SeatInventory
from engine.core.venue import Row, Section, Venue

from ..helpers import row, small_venue

POLICY = HoldPolicy(ttl=60, extension=30, max_extensions=2, max_lifetime=120, user_limit=4)


def make(venue: Venue | None = None, policy: HoldPolicy = POLICY) -> tuple[SeatInventory,
                                                                          ManualClock]:
    clock = ManualClock(1_000.0)
    return SeatInventory(venue or small_venue(ga=5), policy, clock, hold_prefix="t"), clock


def unchanged(inv: SeatInventory, action: object) -> None:
    """Asserts that a failing command leaves the state exactly as it was."""
    before = inv.snapshot()
    with pytest.raises(DomainError):
        action()  # type: ignore[operator]
    after = inv.snapshot()
    before["idem"] = after["idem"] = None
    assert after == before


def test_hold_named_seats_and_confirm() -> None:
    inv, _ = make()
    hold = inv.hold("u1", ["A-1-1", "A-1-2"], "k1")
    assert hold.status == "held" and hold.amount == 200 and hold.expires_at == 1_060.0
    assert inv.seat_status("A-1-1") == "held"
    sale = inv.confirm("u1", hold.hold_id, "k2")
    assert sale.status == "sold"
    assert inv.seat_status("A-1-2") == "sold"
    kinds = [type(e).__name__ for e in inv.pull_events()]
    assert kinds == ["SeatsHeld", "SeatsSold"]


def test_holds_are_all_or_nothing() -> None:
    inv, _ = make()
    inv.hold("u1", ["A-1-2"], "k1")
    unchanged(inv, lambda: inv.hold("u2", ["A-1-1", "A-1-2"], "k2"))
    assert inv.seat_status("A-1-1") == "available"


@pytest.mark.parametrize(
    ("seats", "error"),
    [
        (["Z-9-9"], UnknownSeat),
        ([], InvalidCommand),
        (["A-1-1", "A-1-1"], InvalidCommand),
        ("A-1-1", InvalidCommand),
        ([7], UnknownSeat),
        ([["A-1-1"]], UnknownSeat),
    ],
)
def test_bad_named_holds_raise_and_change_nothing(seats: object, error: type) -> None:
    inv, _ = make()
    with pytest.raises(error):
        inv.hold("u1", seats, "k")  # type: ignore[arg-type]
    assert inv.totals()["held"] == 0


def test_user_limit_counts_holds_and_sales() -> None:
    inv, _ = make()
    h = inv.hold("u1", ["A-1-1", "A-1-2"], "k1")
    inv.confirm("u1", h.hold_id, "k2")
    inv.hold_ga("u1", "GA", 1, "k3")
    unchanged(inv, lambda: inv.hold("u1", ["A-2-1", "A-2-2"], "k4"))
    inv.hold("u1", ["A-2-1"], "k5")
    assert inv.user_tickets("u1") == 4
    with pytest.raises(UserLimitExceeded) as info:
        inv.hold_best("u1", 1, "k6")
    assert info.value.details == {"limit": 4, "have": 4, "requested": 1}


def test_release_returns_seats_and_quota() -> None:
    inv, _ = make()
    h = inv.hold("u1", ["A-1-1", "A-1-2", "A-1-3", "A-1-4"], "k1")
    inv.release("u1", h.hold_id, "k2")
    assert inv.seat_status("A-1-1") == "available"
    assert inv.user_tickets("u1") == 0
    inv.hold("u1", ["A-1-1", "A-1-2", "A-1-3", "A-1-4"], "k3")


def test_only_the_owner_confirms_and_only_once() -> None:
    inv, _ = make()
    h = inv.hold("u1", ["A-1-1"], "k1")
    unchanged(inv, lambda: inv.confirm("u2", h.hold_id, "k2"))
    with pytest.raises(HoldNotOwned):
        inv.confirm("u2", h.hold_id, "k2b")
    inv.confirm("u1", h.hold_id, "k3")
    with pytest.raises(HoldAlreadyConfirmed):
        inv.confirm("u1", h.hold_id, "k4")
    with pytest.raises(HoldNotFound):
        inv.confirm("u1", "t-999", "k5")


def test_expired_hold_cannot_be_confirmed_and_its_seats_return() -> None:
    inv, clock = make()
    h = inv.hold("u1", ["A-1-1"], "k1")
    clock.advance(60)
    with pytest.raises(HoldExpired):
        inv.confirm("u1", h.hold_id, "k2")
    assert inv.seat_status("A-1-1") == "available"
    assert inv.user_tickets("u1") == 0
    assert any(isinstance(e, ev.HoldLapsed) for e in inv.pull_events())


def test_sweep_expires_due_holds_only() -> None:
    inv, clock = make()
    a = inv.hold("u1", ["A-1-1"], "k1")
    clock.advance(30)
    b = inv.hold("u2", ["A-1-2"], "k2")
    clock.advance(30)
    assert inv.sweep() == [a.hold_id]
    assert inv.hold_info(b.hold_id).status == "held"
    assert inv.next_expiry() == b.expires_at


def test_extension_is_bounded_by_count_and_lifetime() -> None:
    inv, clock = make()
    h = inv.hold("u1", ["A-1-1"], "k1")
    clock.advance(50)
    e1 = inv.extend("u1", h.hold_id, "k2")
    assert e1.expires_at == 1_080.0 and e1.extensions == 1
    clock.advance(25)
    e2 = inv.extend("u1", h.hold_id, "k3", 1_000)
    assert e2.expires_at == 1_105.0
    with pytest.raises(HoldExtensionRefused):
        inv.extend("u1", h.hold_id, "k4")
    policy = HoldPolicy(ttl=60, extension=100, max_extensions=5, max_lifetime=90)
    inv2, _ = make(policy=policy)
    h2 = inv2.hold("u1", ["A-1-1"], "k1")
    assert inv2.extend("u1", h2.hold_id, "k2").expires_at == 1_090.0
    with pytest.raises(HoldExtensionRefused):
        inv2.extend("u1", h2.hold_id, "k3")


def test_released_hold_reports_released() -> None:
    inv, _ = make()
    h = inv.hold("u1", ["A-1-1"], "k1")
    inv.release("u1", h.hold_id, "k2")
    with pytest.raises(HoldReleased):
        inv.confirm("u1", h.hold_id, "k3")


def test_idempotent_mutations_have_one_effect() -> None:
    inv, _ = make()
    first = inv.hold("u1", ["A-1-1"], "same")
    again = inv.hold("u1", ["A-1-1"], "same")
    assert again == first
    assert inv.user_tickets("u1") == 1
    with pytest.raises(IdempotencyKeyReused):
        inv.hold("u1", ["A-1-2"], "same")
    other_user = inv.hold_best("u2", 1, "same")
    assert other_user.hold_id != first.hold_id
    c1 = inv.confirm("u1", first.hold_id, "c")
    assert inv.confirm("u1", first.hold_id, "c") == c1


def test_errors_are_remembered_under_their_key() -> None:
    inv, _ = make()
    inv.hold("u2", ["A-1-1"], "k")
    with pytest.raises(SeatUnavailable) as first:
        inv.hold("u1", ["A-1-1"], "k1")
    inv.release("u2", inv.holds()[0].hold_id, "r")
    with pytest.raises(SeatUnavailable) as again:
        inv.hold("u1", ["A-1-1"], "k1")
    assert again.value == first.value
    assert inv.hold("u1", ["A-1-1"], "k2").status == "held"


def test_idempotency_keys_are_forgotten_after_the_window() -> None:
    policy = HoldPolicy(ttl=60, max_lifetime=60, idempotency_window=100)
    inv, clock = make(policy=policy)
    h = inv.hold("u1", ["A-1-1"], "k")
    inv.release("u1", h.hold_id, "r")
    clock.advance(101)
    inv.sweep()
    assert inv.hold("u1", ["A-1-1"], "k").hold_id != h.hold_id


def test_missing_key_or_user_is_invalid() -> None:
    inv, _ = make()
    with pytest.raises(InvalidCommand):
        inv.hold("u1", ["A-1-1"], "")
    with pytest.raises(InvalidCommand):
        inv.hold("", ["A-1-1"], "k")
    with pytest.raises(InvalidCommand):
        inv.hold("u1", ["A-1-1"], "x" * 201)


# ---------------------------------------------------------------- best available


def test_best_available_takes_adjacent_seats_nearest_the_stage() -> None:
    inv, _ = make()
    h = inv.hold_best("u1", 2, "k")
    assert h.seat_ids == ("A-1-3", "A-1-4")


def test_best_available_avoids_leaving_a_single_orphan() -> None:
    venue = Venue("v", (Section("A", "A", (row("A", "1", 5, y=5.0, x0=-2.0),
                                            row("A", "2", 5, y=50.0, x0=-2.0))),))
    inv, _ = make(venue)
    # Row 1: the middle pair would leave single seats on both sides.
    h = inv.hold_best("u1", 2, "k1")
    assert h.seat_ids in {("A-1-1", "A-1-2"), ("A-1-4", "A-1-5")}
    # Three seats remain in row 1 (a run of three): a pair leaves one orphan whatever we do,
    # so with a clean choice in row 2 we prefer that, even though it is further away.
    h2 = inv.hold_best("u2", 2, "k2")
    assert h2.seat_ids[0].startswith("A-2-")


def test_best_available_accepts_an_orphan_when_unavoidable() -> None:
    venue = Venue("v", (Section("A", "A", (row("A", "1", 3, y=5.0),)),))
    inv, _ = make(venue)
    assert inv.hold_best("u1", 2, "k").seat_ids in {("A-1-1", "A-1-2"), ("A-1-2", "A-1-3")}


def test_best_available_filters_by_section_and_grade() -> None:
    inv, _ = make()
    assert inv.hold_best("u1", 2, "k1", section="B").seat_ids[0].startswith("B-1-")
    assert inv.hold_best("u2", 2, "k2", grade="S").seat_ids[0].startswith("B-")
    with pytest.raises(UnknownSection):
        inv.hold_best("u3", 1, "k3", section="Q")
    with pytest.raises(NotEnoughSeats):
        inv.hold_best("u3", 1, "k4", grade="VIP")


def test_best_available_falls_back_to_nearest_singles() -> None:
    venue = Venue("v", (Section("A", "A", (row("A", "1", 3, y=5.0), row("A", "2", 3, y=6.0))),))
    inv, _ = make(venue)
    inv.hold("x", ["A-1-2"], "k0")
    inv.hold("y", ["A-2-2"], "k1")
    h = inv.hold_best("u1", 3, "k2")
    assert len(h.seat_ids) == 3 and len({s[:3] for s in h.seat_ids}) == 2


def test_best_available_is_all_or_nothing() -> None:
    inv, _ = make(policy=HoldPolicy(user_limit=50))
    with pytest.raises(NotEnoughSeats):
        inv.hold_best("u1", 27, "k", section="A")
    assert inv.totals()["held"] == 0
    with pytest.raises(InvalidCommand):
        inv.hold_best("u1", 0, "k2")


# ---------------------------------------------------------------- general admission


def test_general_admission_quantities() -> None:
    inv, _ = make()
    h = inv.hold_ga("u1", "GA", 3, "k1")
    assert h.ga == (("GA", 3),) and h.amount == 210
    with pytest.raises(NotEnoughTickets):
        inv.hold_ga("u2", "GA", 3, "k2")
    inv.confirm("u1", h.hold_id, "k3")
    h2 = inv.hold_ga("u2", "GA", 2, "k4")
    inv.release("u2", h2.hold_id, "k5")
    assert inv.availability()["ticket_types"]["GA"] == {
        "grade": "R", "price": 70, "capacity": 5, "available": 2, "held": 0, "sold": 3}
    with pytest.raises(UnknownTicketType):
        inv.hold_ga("u2", "VIP", 1, "k6")
    with pytest.raises(InvalidCommand):
        inv.hold_ga("u2", "GA", 0, "k7")


def test_sold_out_and_back_on_sale_events() -> None:
    venue = Venue("v", (Section("A", "A", (row("A", "1", 2, y=1.0),)),))
    inv, _ = make(venue)
    h = inv.hold("u1", ["A-1-1", "A-1-2"], "k")
    events = inv.pull_events()
    assert ev.SoldOut(1_000.0, "A") in events and ev.SoldOut(1_000.0, "*") in events
    inv.release("u1", h.hold_id, "r")
    events = inv.pull_events()
    assert ev.BackOnSale(1_000.0, "A") in events and ev.BackOnSale(1_000.0, "*") in events


def test_availability_per_section_and_grade() -> None:
    inv, _ = make()
    h = inv.hold("u1", ["A-1-1"], "k1")
    inv.confirm("u1", h.hold_id, "k2")
    inv.hold("u2", ["B-1-1", "B-1-2"], "k3")
    av = inv.availability()
    assert av["sections"]["A"]["grades"]["R"] == {"available": 17, "held": 0, "sold": 1}
    assert av["sections"]["B"]["held"] == 2
    assert av["totals"] == {"capacity": 31, "available": 28, "held": 2, "sold": 1,
                            "holds": 1, "sales": 1}
    assert inv.seat_states()[:2] == bytes([2, 0])


# ---------------------------------------------------------------- cancel, reconcile, snapshot


def test_cancelled_sale_goes_back_on_sale() -> None:
    inv, _ = make()
    h = inv.hold("u1", ["A-1-1"], "k1")
    inv.confirm("u1", h.hold_id, "k2")
    inv.cancel_sale("u1", h.hold_id, "k3")
    assert inv.seat_status("A-1-1") == "available"
    assert inv.user_tickets("u1") == 0


def test_reconcile_lets_the_system_of_record_win() -> None:
    inv, _ = make()
    unknown = inv.hold("u1", ["A-1-1"], "k1")
    inv.confirm("u1", unknown.hold_id, "k2")
    pending = inv.hold("u2", ["A-1-2"], "k3")
    inv.confirm("u2", pending.hold_id, "k4")
    blocking = inv.hold("u3", ["A-2-1", "A-2-2"], "k5")
    report = inv.reconcile(
        [ConfirmedSale("old-7", "u4", ("A-2-2",), ()),
         ConfirmedSale("old-8", "u5", (), (("GA", 2),))],
        active_hold_ids={pending.hold_id},
    )
    assert report.sales_cancelled == (unknown.hold_id,)
    assert report.holds_broken == (blocking.hold_id,)
    assert set(report.sold_forced) == {"old-7", "old-8"}
    assert inv.seat_status("A-1-1") == "available"
    assert inv.seat_status("A-1-2") == "sold"
    assert inv.seat_status("A-2-1") == "available"
    assert inv.seat_status("A-2-2") == "sold"
    assert inv.user_tickets("u4") == 1 and inv.user_tickets("u3") == 0
    assert inv.availability()["ticket_types"]["GA"]["sold"] == 2
    assert not inv.reconcile(
        [ConfirmedSale("old-7", "u4", ("A-2-2",), ()),
         ConfirmedSale("old-8", "u5", (), (("GA", 2),))],
        active_hold_ids={pending.hold_id},
    ).changed


def test_snapshot_restores_the_same_state_through_msgpack() -> None:
    inv, clock = make()
    h = inv.hold("u1", ["A-1-1"], "k1")
    inv.confirm("u1", h.hold_id, "k2")
    inv.hold_ga("u2", "GA", 2, "k3")
    h3 = inv.hold_best("u3", 2, "k4")
    inv.release("u3", h3.hold_id, "k5")
    with pytest.raises(SeatUnavailable):
        inv.hold("u4", ["A-1-1"], "k6")
    packed = msgpack.packb(inv.snapshot(), use_bin_type=True)
    copy, _ = make()
    copy._clock = clock
    copy.restore(msgpack.unpackb(packed, raw=False, strict_map_key=False))
    assert msgpack.packb(copy.snapshot(), use_bin_type=True) == packed
    assert copy.hold("u2", ["B-1-1"], "k9").hold_id == inv.hold("u2", ["B-1-1"], "k9").hold_id
    with pytest.raises(SeatUnavailable):
        copy.hold("u4", ["A-1-1"], "k6")
    assert copy.hold("u1", ["A-1-1"], "k1") == inv.hold("u1", ["A-1-1"], "k1")


def test_restore_refuses_a_snapshot_of_another_layout() -> None:
    inv, _ = make()
    other, _ = make(Venue("v", (Section("A", "A", (Row("1", ()),)),)))
    with pytest.raises(InvalidCommand):
        other.restore(inv.snapshot())
