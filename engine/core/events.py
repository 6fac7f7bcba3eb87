"""Domain events the core records for the shells to publish: immutable named tuples, cheap to
make on the hot path and ready for msgpack. `event_to_dict` gives the wire form."""

from __future__ import annotations

from typing import Any, NamedTuple

GA = tuple[tuple[str, int], ...]

# Seat inventory


class SeatsHeld(NamedTuple):
    at: float
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    ga: GA
    expires_at: float


class HoldExtended(NamedTuple):
    at: float
    hold_id: str
    user_id: str
    expires_at: float


class SeatsReleased(NamedTuple):
    at: float
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    ga: GA
    reason: str


class HoldLapsed(NamedTuple):
    """A hold reached its expiry unbought; its seats are back on sale."""

    at: float
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    ga: GA


class SeatsSold(NamedTuple):
    at: float
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    ga: GA
    amount: int


class SaleCancelled(NamedTuple):
    at: float
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    ga: GA
    reason: str


class SoldOut(NamedTuple):
    """Nothing left to hold in `scope`: a section id, a ticket type id, or "*" (the shard)."""

    at: float
    scope: str


class BackOnSale(NamedTuple):
    at: float
    scope: str


# Waiting room


class QueueOpened(NamedTuple):
    at: float
    seed: str
    prequeue_size: int


class UserJoined(NamedTuple):
    at: float
    user_id: str
    seq: int
    prequeue: bool


class UserLeft(NamedTuple):
    at: float
    user_id: str


class UserAdmitted(NamedTuple):
    at: float
    user_id: str
    seq: int
    session_expires_at: float


class UserDropped(NamedTuple):
    at: float
    user_id: str
    seq: int
    reason: str


class SessionEnded(NamedTuple):
    at: float
    user_id: str
    reason: str


DomainEvent = (
    SeatsHeld | HoldExtended | SeatsReleased | HoldLapsed | SeatsSold | SaleCancelled | SoldOut
    | BackOnSale | QueueOpened | UserJoined | UserLeft | UserAdmitted | UserDropped
    | SessionEnded
)


def event_to_dict(event: DomainEvent) -> dict[str, Any]:
    data = event._asdict()
    data["kind"] = type(event).__name__
    return data
