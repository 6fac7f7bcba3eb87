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
    assert ledger.reconcile({"u": [("r1", 1), ("old", 2)], "v": [("x", 1)]}) == 2
    assert ledger.count("u") == 3 and ledger.count("v") == 1
    copy = TicketLedger(1, clock)
    copy.restore(ledger.snapshot())
    clock.advance(1_000)
    assert copy.count("u") == 3 and copy.limit == 4
