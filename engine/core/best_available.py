"""Best-available seat selection over a shard's seat array.

Preference order: N adjacent seats in one row; among those, blocks that leave no single
orphan seat between them and a taken seat or the row's end; among those, the smallest total
distance to the focal point. When no row has N adjacent seats, the N nearest seats are taken.
Seats are indexed so that every row is a contiguous index range."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

AVAILABLE = 0


@dataclass(frozen=True, slots=True)
class RowIndex:
    """Static facts about one row, computed once per layout."""

    start: int
    end: int
    section: int
    lower_bound: float  # distance of the row's nearest seat
    grades: frozenset[int]


class SeatSelector:
    def __init__(
        self,
        rows: Sequence[RowIndex],
        distance: Sequence[float],
        grade_of: Sequence[int],
        section_count: int,
        grade_count: int,
    ) -> None:
        self._rows = list(rows)
        self._grade_of = grade_of
        self._cum = [0.0]
        for d in distance:
            self._cum.append(self._cum[-1] + d)
        self._distance = distance
        order = sorted(range(len(rows)), key=lambda r: (rows[r].lower_bound, r))
        self._order_all = order
        self._order_by_section: list[list[int]] = [[] for _ in range(section_count)]
        self._order_by_grade: list[list[int]] = [[] for _ in range(grade_count)]
        for r in order:
            self._order_by_section[rows[r].section].append(r)
            for g in rows[r].grades:
                self._order_by_grade[g].append(r)

    def choose(
        self, state: bytearray, count: int, section: int | None = None, grade: int | None = None
    ) -> list[int] | None:
        block = self._best_block(state, count, section, grade)
        if block is not None:
            return block
        return self._nearest_singles(state, count, section, grade)

    def _candidate_rows(self, section: int | None, grade: int | None) -> list[int]:
        if section is not None:
            return self._order_by_section[section]
        if grade is not None:
            return self._order_by_grade[grade]
        return self._order_all

    def _best_block(
        self, state: bytearray, count: int, section: int | None, grade: int | None
    ) -> list[int] | None:
        cum = self._cum
        grade_of = self._grade_of
        best_clean: tuple[float, int] | None = None
        best_any: tuple[float, int] | None = None
        for r in self._candidate_rows(section, grade):
            row = self._rows[r]
            if best_clean is not None and row.lower_bound * count >= best_clean[0]:
                break
            if grade is not None and grade not in row.grades:
                continue
            start, end = row.start, row.end
            if state.count(AVAILABLE, start, end) < count:
                continue
            uniform = grade is None or len(row.grades) == 1
            i = start
            while i < end:
                if state[i] != AVAILABLE:
                    i += 1
                    continue
                j = i
                while j < end and state[j] == AVAILABLE:
                    j += 1
                run = j - i
                if run >= count:
                    for o in range(run - count + 1):
                        a = i + o
                        b = a + count
                        if not uniform and any(grade_of[k] != grade for k in range(a, b)):
                            continue
                        score = cum[b] - cum[a]
                        orphan = o == 1 or run - o - count == 1
                        if not orphan and (best_clean is None or score < best_clean[0]):
                            best_clean = (score, a)
                        if best_any is None or score < best_any[0]:
                            best_any = (score, a)
                i = j
        chosen = best_clean or best_any
        if chosen is None:
            return None
        return list(range(chosen[1], chosen[1] + count))

    def _nearest_singles(
        self, state: bytearray, count: int, section: int | None, grade: int | None
    ) -> list[int] | None:
        pool: list[int] = []
        for r in self._candidate_rows(section, grade):
            row = self._rows[r]
            for k in range(row.start, row.end):
                if state[k] == AVAILABLE and (grade is None or self._grade_of[k] == grade):
                    pool.append(k)
        if len(pool) < count:
            return None
        return sorted(heapq.nsmallest(count, pool, key=lambda k: (self._distance[k], k)))
