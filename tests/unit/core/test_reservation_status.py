"""A reservation's status machine: every move it allows, every move it refuses."""

from __future__ import annotations

import itertools
import json

import pytest

from engine.core.reservation import (
    ACTIVE,
    ENDED,
    MOVES,
    IllegalStatusMove,
    ReservationStatus,
    check_move,
    moves_into,
)

S = ReservationStatus
ALLOWED = [
    (S.PENDING, S.CONFIRMED),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.EXPIRED),
    (S.CONFIRMED, S.CANCELLED),  # a refund
]
REFUSED = [pair for pair in itertools.product(S, S) if pair not in ALLOWED]


@pytest.mark.parametrize(("current", "to"), ALLOWED)
def test_allowed_moves(current: ReservationStatus, to: ReservationStatus) -> None:
    assert check_move(current, to) is to
    assert check_move(str(current), to) is to  # as PostgreSQL returns it
    assert current in moves_into(to)


@pytest.mark.parametrize(("current", "to"), REFUSED)
def test_refused_moves(current: ReservationStatus, to: ReservationStatus) -> None:
    with pytest.raises(IllegalStatusMove, match=f"{current} cannot move to {to}"):
        check_move(current, to)
    assert current not in moves_into(to)


def test_the_table_names_every_status_and_the_ends_have_no_way_out() -> None:
    assert set(MOVES) == set(S)
    assert len(REFUSED) == len(S) ** 2 - len(ALLOWED)
    assert set(ENDED) == {S.CANCELLED, S.FAILED, S.EXPIRED}
    assert set(ACTIVE | ENDED) == set(S) and not ACTIVE & ENDED
    assert all(MOVES[status] == frozenset() for status in ENDED)
    assert moves_into(S.PENDING) == frozenset()  # nothing goes back to PENDING
    assert moves_into(S.CANCELLED) == {S.PENDING, S.CONFIRMED}


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="REFUNDED"):
        check_move("REFUNDED", S.CANCELLED)


def test_the_wire_form_is_the_bare_name() -> None:
    assert json.dumps([S.PENDING, S.CONFIRMED]) == '["PENDING", "CONFIRMED"]'
    assert [str(s) for s in S] == ["PENDING", "CONFIRMED", "CANCELLED", "FAILED", "EXPIRED"]
