"""Venue layout: sections of rows of seats (each with grade and price), plus general-admission
ticket types sold by quantity. Seats next to each other in a row's tuple are adjacent."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core.errors import InvalidCommand
from engine.core.ids import seat_id


@dataclass(frozen=True, slots=True)
class Seat:
    id: str
    section: str
    row: str
    number: int
    grade: str
    price: int
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    seats: tuple[Seat, ...]


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    name: str
    rows: tuple[Row, ...]

    @property
    def seat_count(self) -> int:
        return sum(len(r.seats) for r in self.rows)

    def seats(self) -> Iterator[Seat]:
        for row in self.rows:
            yield from row.seats


@dataclass(frozen=True, slots=True)
class TicketType:
    """General admission: sold by quantity, no named seat."""

    id: str
    name: str
    grade: str
    price: int
    quantity: int


@dataclass(frozen=True)
class Venue:
    name: str
    sections: tuple[Section, ...] = ()
    ticket_types: tuple[TicketType, ...] = ()
    focal_x: float = 0.0
    focal_y: float = 0.0
    _seat_ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids: set[str] = set()
        section_ids: set[str] = set()
        for section in self.sections:
            if section.id in section_ids:
                raise InvalidCommand(f"duplicate section id {section.id!r}")
            section_ids.add(section.id)
            for seat in section.seats():
                if seat.id in ids:
                    raise InvalidCommand(f"duplicate seat id {seat.id!r}")
                if seat.section != section.id:
                    raise InvalidCommand(f"seat {seat.id!r} does not belong to {section.id!r}")
                if seat.price < 0:
                    raise InvalidCommand(f"seat {seat.id!r} has a negative price")
                ids.add(seat.id)
        type_ids: set[str] = set()
        for tt in self.ticket_types:
            if tt.id in type_ids or tt.id in ids:
                raise InvalidCommand(f"duplicate ticket type id {tt.id!r}")
            if tt.quantity < 0 or tt.price < 0:
                raise InvalidCommand(f"ticket type {tt.id!r} has a negative quantity or price")
            type_ids.add(tt.id)
        object.__setattr__(self, "_seat_ids", frozenset(ids))

    @property
    def seat_count(self) -> int:
        return len(self._seat_ids)

    @property
    def ga_quantity(self) -> int:
        return sum(tt.quantity for tt in self.ticket_types)

    @property
    def capacity(self) -> int:
        return self.seat_count + self.ga_quantity

    def seats(self) -> Iterator[Seat]:
        for section in self.sections:
            yield from section.seats()

    def distance(self, seat: Seat) -> float:
        return math.hypot(seat.x - self.focal_x, seat.y - self.focal_y)

    def subset(self, section_ids: Iterable[str], ticket_type_ids: Iterable[str] = ()) -> Venue:
        """The part of this venue made of the given sections and ticket types (a shard's share)."""
        wanted = set(section_ids)
        wanted_types = set(ticket_type_ids)
        return Venue(
            name=self.name,
            sections=tuple(s for s in self.sections if s.id in wanted),
            ticket_types=tuple(t for t in self.ticket_types if t.id in wanted_types),
            focal_x=self.focal_x,
            focal_y=self.focal_y,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "focal": [self.focal_x, self.focal_y],
            "sections": [
                {
                    "id": s.id,
                    "name": s.name,
                    "rows": [
                        {
                            "label": r.label,
                            "seats": [
                                [seat.number, seat.grade, seat.price, seat.x, seat.y]
                                for seat in r.seats
                            ],
                        }
                        for r in s.rows
                    ],
                }
                for s in self.sections
            ],
            "ticket_types": [
                {"id": t.id, "name": t.name, "grade": t.grade, "price": t.price,
                 "quantity": t.quantity}
                for t in self.ticket_types
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Venue:
        """Builds a venue from `to_dict`'s shape; seat ids are `section-row-number`."""
        try:
            sections = []
            for s in data.get("sections", ()):
                rows = []
                for r in s["rows"]:
                    label = str(r["label"])
                    seats = tuple(
                        Seat(
                            id=seat_id(s["id"], label, int(n)),
                            section=str(s["id"]),
                            row=label,
                            number=int(n),
                            grade=str(grade),
                            price=int(price),
                            x=float(x),
                            y=float(y),
                        )
                        for n, grade, price, x, y in r["seats"]
                    )
                    rows.append(Row(label=label, seats=seats))
                sections.append(Section(id=str(s["id"]), name=str(s["name"]), rows=tuple(rows)))
            types = tuple(
                TicketType(
                    id=str(t["id"]),
                    name=str(t["name"]),
                    grade=str(t["grade"]),
                    price=int(t["price"]),
                    quantity=int(t["quantity"]),
                )
                for t in data.get("ticket_types", ())
            )
            focal = data.get("focal", (0.0, 0.0))
            return cls(
                name=str(data["name"]),
                sections=tuple(sections),
                ticket_types=types,
                focal_x=float(focal[0]),
                focal_y=float(focal[1]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidCommand(f"malformed venue layout: {exc}") from exc


def plan_shards(venue: Venue, shard_count: int) -> dict[str, int]:
    """Assigns each section and ticket type to one of `shard_count` shards, balancing seats.

    Deterministic: the same venue and count always give the same plan."""
    if shard_count < 1:
        raise InvalidCommand("shard_count must be at least 1")
    loads = [0] * shard_count
    plan: dict[str, int] = {}
    units = [(s.seat_count, s.id) for s in venue.sections]
    units += [(t.quantity, t.id) for t in venue.ticket_types]
    for size, unit_id in sorted(units, key=lambda u: (-u[0], u[1])):
        target = min(range(shard_count), key=lambda k: (loads[k], k))
        plan[unit_id] = target
        loads[target] += size
    return plan
