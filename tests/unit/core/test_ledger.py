from __future__ import annotations

import pytest

from engine.core.clock import ManualClock
from engine.core.errors import InvalidCommand, QuotaNotFound, UserLimitExceeded
from engine.core.ledger import TicketLedger


def make() -> tuple[TicketLedger, ManualClock]:
    clock = ManualClock(100.0)
    return TicketLedger(4, clock), clock


def test_reservations_count_against_the_limit_until_they_lapse() -> None:
    ledger, clock = make()
    ledger.reserve("u", "r1", 3, expires_at=150.0)
    with pytest.raises(UserLimitExceeded):
        ledger.reserve("u", "r2", 2, expires_at=150.0)
    assert ledger.count("u") == 3
    clock.set(150.0)
    assert ledger.count("u") == 0
    ledger.reserve("u", "r2", 4, expires_at=200.0)


def test_committed_quota_never_lapses() -> None:
    ledger, clock = make()
    ledger.reserve("u", "r1", 2, expires_at=110.0)
    ledger.commit("u", "r1")
    clock.advance(1_000)
    assert ledger.count("u") == 2
    with pytest.raises(QuotaNotFound):
        ledger.commit("u", "nope")


def test_same_ref_is_idempotent_and_release_gives_back() -> None:
    ledger, _ = make()
    first = ledger.reserve("u", "r1", 2, expires_at=150.0)
    assert ledger.reserve("u", "r1", 2, expires_at=150.0) == first
    assert ledger.count("u") == 2
    with pytest.raises(InvalidCommand):
        ledger.reserve("u", "r1", 3, expires_at=150.0)
    assert ledger.release("someone-else", "r1") == 0
    with pytest.raises(QuotaNotFound):
        ledger.commit("someone-else", "r1")
    assert ledger.release("u", "r1") == 2
    assert ledger.release("u", "r1") == 0
    assert ledger.count("u") == 0


def test_reconcile_adds_missing_sales_and_snapshot_round_trips() -> None:
    ledger, clock = make()
    ledger.reserve("u", "r1", 1, expires_at=150.0)
    assert ledger.reconcile({"u": [("r1", 1, "0.r1"), ("old", 2, "1.old")],
                             "v": [("x", 1, "0.x")]}) == 2
    assert ledger.count("u") == 3 and ledger.count("v") == 1
    copy = TicketLedger(1, clock)
    copy.restore(ledger.snapshot())
    clock.advance(1_000)
    assert copy.count("u") == 3 and copy.limit == 4


def test_a_refused_reservation_is_refused_again_under_its_reference() -> None:
    """The router may have taken the hold in parallel and undone it: a retry of the same
    request must be refused again, even once the user has room."""
    ledger, clock = make()
    ledger.reserve("u", "r1", 3, expires_at=150.0)
    with pytest.raises(UserLimitExceeded):
        ledger.reserve("u", "r2", 2, expires_at=150.0)
    ledger.release("u", "r1")
    with pytest.raises(UserLimitExceeded):
        ledger.reserve("u", "r2", 2, expires_at=150.0)
    assert ledger.reserve("u", "r3", 2, expires_at=150.0).tickets == 2
    copy = TicketLedger(4, clock)
    copy.restore(ledger.snapshot())
    with pytest.raises(UserLimitExceeded):
        copy.reserve("u", "r2", 2, expires_at=150.0)
    clock.advance(3_600)  # past the idempotency window: the reference is forgotten
    assert copy.reserve("u", "r2", 2, expires_at=5_000.0).tickets == 2


def test_a_reservation_is_committed_for_one_hold_only() -> None:
    ledger, _ = make()
    ledger.reserve("u", "r1", 2, expires_at=150.0)
    assert ledger.commit("u", "r1", "0.r1").hold_id == "0.r1"
    assert ledger.commit("u", "r1", "0.r1").expires_at is None
    with pytest.raises(QuotaNotFound):
        ledger.commit("u", "r1", "1.r1")
    assert ledger.count("u") == 2
