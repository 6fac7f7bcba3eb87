"""Small venues for unit tests."""

from __future__ import annotations

from engine.core.venue import Row, Seat, Section, TicketType, Venue, seat_id


def row(section: str, label: str, n: int, *, y: float, grade: str = "R", price: int = 100,
        x0: float = 0.0) -> Row:
    return Row(
        label=label,
        seats=tuple(
            Seat(seat_id(section, label, k + 1), section, label, k + 1, grade, price,
                 x=x0 + k, y=y)
            for k in range(n)
        ),
    )


def small_venue(*, ga: int = 0) -> Venue:
    """Two sections: A (3 rows of 6, nearest the stage) and B (2 rows of 4, grade S)."""
    a = Section("A", "Section A", tuple(row("A", str(r + 1), 6, y=10.0 + r, x0=-2.5)
                                        for r in range(3)))
    b = Section("B", "Section B", tuple(row("B", str(r + 1), 4, y=30.0 + r, grade="S",
                                            price=50) for r in range(2)))
    types = (TicketType("GA", "Standing", "R", 70, ga),) if ga else ()
    return Venue("Test Hall", (a, b), types)
