"""Small venues and an in-memory journal for unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from engine.core.command_wire import encode
from engine.core.ids import seat_id
from engine.core.venue import Row, Seat, Section, TicketType, Venue
from engine.store.journal import JournalEntry, Recovered, pack, unpack


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


class MemoryJournal:
    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self.snapshot: tuple[int, Any] | None = None
        self.rounds: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False
        self.epoch = 0

    async def claim(self) -> int:
        self.epoch += 1
        return self.epoch

    async def recover(self) -> Recovered:
        seq, state = self.snapshot if self.snapshot else (0, None)
        return Recovered(seq, state, [e for e in self.entries if e.seq > seq])

    def append_args(self, seq: int, now: float, commands: Sequence[Any],
                    events: Sequence[Any]) -> Any:
        return ("append", seq, now, unpack(encode(list(commands))))

    def snapshot_args(self, seq: int, state: Any) -> Any:
        return ("snapshot", seq, unpack(pack(state)))

    async def write(self, ops: Sequence[tuple[str, Any]]) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("redis went away")
        self.rounds.append([kind for kind, _ in ops])
        for kind, args in ops:
            if kind == "append":
                _, seq, now, commands = args
                self.entries.append(JournalEntry(seq, now, commands))
            else:
                _, seq, state = args
                self.snapshot = (seq, state)
                self.entries = [e for e in self.entries if e.seq > seq]
