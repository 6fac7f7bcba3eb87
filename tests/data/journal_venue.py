"""The venue the journal of `journal_format1.msgpack` was written for (built from names that
every version of the engine has)."""

from __future__ import annotations

from engine.core.venue import Row, Seat, Section, TicketType, Venue


def venue() -> Venue:
    rows = tuple(Row(str(r), tuple(Seat(f"A-{r}-{n}", "A", str(r), n, "R", 100, x=float(n),
                                        y=float(r)) for n in range(1, 7)))
                 for r in range(1, 4))
    return Venue("Hall", (Section("A", "Section A", rows),),
                 (TicketType("GA", "Standing", "R", 70, 10),))
