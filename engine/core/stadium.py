"""A realistic stadium layout for the demo event and the benchmarks.

The stage stands at the north end of the field, at the focal point (0, 0). In front of it the
floor holds seated blocks; around the field a lower and an upper bowl of angled sections form
a horseshoe open towards the stage. Grades follow distance: VIP on the floor, R and S in the
lower bowl, S and A in the upper bowl. Prices are in KRW."""

from __future__ import annotations

import math

from engine.core.ids import seat_id
from engine.core.venue import Row, Seat, Section, TicketType, Venue

PRICES = {"VIP": 220_000, "R": 165_000, "S": 132_000, "A": 99_000}
STANDING_PRICE = 154_000


def _floor_sections(blocks: int, rows: int, seats: int) -> list[Section]:
    sections = []
    width = seats * 0.55 + 2.0
    for b in range(blocks):
        col, line = b % 3, b // 3
        section_id = f"F{b + 1}"
        x0 = (col - 1) * width - seats * 0.55 / 2
        y0 = 15.0 + line * (rows * 0.9 + 3.0)
        grade = "VIP" if line == 0 else "R"
        section_rows = []
        for r in range(rows):
            label = str(r + 1)
            row_seats = tuple(
                Seat(
                    id=seat_id(section_id, label, n + 1),
                    section=section_id,
                    row=label,
                    number=n + 1,
                    grade=grade,
                    price=PRICES[grade],
                    x=round(x0 + n * 0.55, 2),
                    y=round(y0 + r * 0.9, 2),
                )
                for n in range(seats)
            )
            section_rows.append(Row(label=label, seats=row_seats))
        sections.append(Section(id=section_id, name=f"Floor {b + 1}", rows=tuple(section_rows)))
    return sections


def _bowl_sections(
    prefix: int, count: int, rows: int, seats: int, radius: float, grades: tuple[str, str]
) -> list[Section]:
    """`count` angled sections on an ellipse around the field centre, leaving the stage end
    open."""
    if count <= 0:
        return []
    cx, cy = 0.0, 75.0
    open_arc = math.radians(70)
    span = (2 * math.pi - open_arc) / count
    sections = []
    for k in range(count):
        section_id = str(prefix + k + 1)
        start = open_arc / 2 + k * span
        section_rows = []
        for r in range(rows):
            label = str(r + 1)
            rad = radius + r * 0.85
            row_seats = []
            for n in range(seats):
                theta = start + span * (n + 0.5) / seats
                x = cx + rad * 1.25 * math.sin(theta)
                y = cy - rad * math.cos(theta)
                distance = math.hypot(x, y)
                grade = grades[0] if distance < radius * 1.55 else grades[1]
                row_seats.append(
                    Seat(
                        id=seat_id(section_id, label, n + 1),
                        section=section_id,
                        row=label,
                        number=n + 1,
                        grade=grade,
                        price=PRICES[grade],
                        x=round(x, 2),
                        y=round(y, 2),
                    )
                )
            section_rows.append(Row(label=label, seats=tuple(row_seats)))
        sections.append(
            Section(id=section_id, name=f"Section {section_id}", rows=tuple(section_rows))
        )
    return sections


def build_stadium(
    name: str = "Seoul Olympic Main Stadium",
    *,
    floor_blocks: int = 6,
    floor_rows: int = 30,
    floor_seats: int = 30,
    lower_sections: int = 24,
    lower_rows: int = 25,
    lower_seats: int = 28,
    upper_sections: int = 28,
    upper_rows: int = 30,
    upper_seats: int = 30,
    standing: int = 3_000,
) -> Venue:
    """The default gives 47,400 numbered seats and 3,000 standing tickets."""
    sections = _floor_sections(floor_blocks, floor_rows, floor_seats)
    sections += _bowl_sections(100, lower_sections, lower_rows, lower_seats, 60.0, ("R", "S"))
    sections += _bowl_sections(200, upper_sections, upper_rows, upper_seats, 85.0, ("S", "A"))
    types = (
        (TicketType("STANDING", "Standing zone", "R", STANDING_PRICE, standing),)
        if standing
        else ()
    )
    return Venue(name=name, sections=tuple(sections), ticket_types=types)
