"""A reservation's statuses and the moves between them (pure; `engine.store.reservations_repo`
makes a move in PostgreSQL, where the status lives).

    PENDING ─┬─▶ CONFIRMED ─▶ CANCELLED
             ├─▶ CANCELLED
             ├─▶ FAILED
             └─▶ EXPIRED

A reservation's items hold their seats while it is PENDING or CONFIRMED (`ACTIVE`); the other
statuses are ends. Moving a reservation to the status it already has changes nothing, and is
not a move."""

from __future__ import annotations

from enum import StrEnum


class ReservationStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


MOVES: dict[ReservationStatus, frozenset[ReservationStatus]] = {
    ReservationStatus.PENDING: frozenset({
        ReservationStatus.CONFIRMED, ReservationStatus.CANCELLED, ReservationStatus.FAILED,
        ReservationStatus.EXPIRED,
    }),
    ReservationStatus.CONFIRMED: frozenset({ReservationStatus.CANCELLED}),
    ReservationStatus.CANCELLED: frozenset(),
    ReservationStatus.FAILED: frozenset(),
    ReservationStatus.EXPIRED: frozenset(),
}

ACTIVE = frozenset({ReservationStatus.PENDING, ReservationStatus.CONFIRMED})
"""The statuses whose items hold their seats."""
ENDED = frozenset(ReservationStatus) - ACTIVE


class IllegalStatusMove(ValueError):
    pass


def check_move(current: str, to: ReservationStatus) -> ReservationStatus:
    """`to`, if a reservation may move there from `current`; IllegalStatusMove otherwise."""
    status = ReservationStatus(current)
    if to not in MOVES[status]:
        raise IllegalStatusMove(f"a reservation {status} cannot move to {to}")
    return to


def moves_into(to: ReservationStatus) -> frozenset[ReservationStatus]:
    """The statuses from which a reservation may move to `to`."""
    return _SOURCES[to]


_SOURCES = {
    to: frozenset(s for s, targets in MOVES.items() if to in targets) for to in ReservationStatus
}
