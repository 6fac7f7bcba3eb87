"""Best-available selection against a plain reference: the same blocks, ties included, on
random rows, states, distances (not necessarily convex along a row) and grades."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.best_available import AVAILABLE, RowIndex, SeatSelector


def reference_best_block(rows: list[RowIndex], order: list[int], distance: list[float],
                         grade_of: list[int], state: bytearray, count: int,
                         grade: int | None) -> list[int] | None:
    """Every block of every row, scored one by one, in row order then seat order."""
    cum = [0.0]
    for d in distance:
        cum.append(cum[-1] + d)
    best_clean: tuple[float, int] | None = None
    best_any: tuple[float, int] | None = None
    for r in order:
        row = rows[r]
        if grade is not None and grade not in row.grades:
            continue
        i = row.start
        while i < row.end:
            if state[i] != AVAILABLE:
                i += 1
                continue
            j = i
            while j < row.end and state[j] == AVAILABLE:
                j += 1
            run = j - i
            for o in range(max(0, run - count + 1)):
                a, b = i + o, i + o + count
                if grade is not None and any(grade_of[k] != grade for k in range(a, b)):
                    continue
                score = cum[b] - cum[a]
                orphan = o == 1 or run - o - count == 1
                if not orphan and (best_clean is None or score < best_clean[0]):
                    best_clean = (score, a)
                if best_any is None or score < best_any[0]:
                    best_any = (score, a)
            i = j
    chosen = best_clean or best_any
    return None if chosen is None else list(range(chosen[1], chosen[1] + count))


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[RowIndex], list[float], list[int], bytearray]:
    lengths = draw(st.lists(st.integers(1, 14), min_size=1, max_size=6))
    rows, distance, grade_of = [], [], []
    for r, length in enumerate(lengths):
        start = len(distance)
        ds = draw(st.lists(st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0, 4.25, 7.0]),
                           min_size=length, max_size=length))
        gs = draw(st.lists(st.integers(0, 1), min_size=length, max_size=length))
        distance += ds
        grade_of += gs
        rows.append(RowIndex(start=start, end=start + length, section=r % 2,
                             lower_bound=min(ds), grades=frozenset(gs)))
    state = bytearray(draw(st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=len(distance),
                                    max_size=len(distance))))
    return rows, distance, grade_of, state


@settings(max_examples=400, deadline=None)
@given(layouts(), st.integers(1, 5), st.sampled_from([None, 0, 1]))
def test_the_chosen_block_is_the_references(
        layout: tuple[list[RowIndex], list[float], list[int], bytearray], count: int,
        grade: int | None) -> None:
    rows, distance, grade_of, state = layout
    selector = SeatSelector(rows, distance, grade_of, section_count=2, grade_count=2)
    order = selector._candidate_rows(None, grade)
    expected = reference_best_block(rows, order, distance, grade_of, state, count, grade)
    assert selector._best_block(state, count, None, grade) == expected
