"""Best-available selection against a plain reference: the same blocks, ties included, on
random rows, states, distances (not necessarily convex along a row), grades changing mid-row,
sections, full rows and single free seats; and the index kept in step through random holds
and releases, as the inventory changes it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.best_available import (
    ANY,
    AVAILABLE,
    CLEAN,
    SINGLES,
    RowIndex,
    SeatSelector,
    reference_choice,
)

Layout = tuple[list[RowIndex], list[float], list[int], bytearray]


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
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


def selector_for(layout: Layout) -> SeatSelector:
    rows, distance, grade_of, state = layout
    selector = SeatSelector(rows, distance, grade_of, section_count=2, grade_count=2)
    selector.reset(state)
    return selector


@settings(max_examples=400, deadline=None)
@given(layouts(), st.integers(1, 5), st.sampled_from([None, 0, 1]),
       st.sampled_from([None, 0, 1]))
def test_the_choice_is_the_references(layout: Layout, count: int, section: int | None,
                                      grade: int | None) -> None:
    rows, distance, grade_of, state = layout
    expected = reference_choice(rows, distance, grade_of, state, count, section, grade)
    assert selector_for(layout).choose(count, section, grade) == expected


@settings(max_examples=200, deadline=None)
@given(layouts(), st.lists(st.tuples(st.integers(1, 4), st.sampled_from([None, 0, 1]),
                                     st.sampled_from([None, 0, 1]), st.integers(0, 99),
                                     st.lists(st.integers(0, 99), min_size=1, max_size=4)),
                           min_size=1, max_size=40))
def test_the_index_follows_holds_and_releases(
        layout: Layout, steps: list[tuple[int, int | None, int | None, int, list[int]]]
) -> None:
    """Holds take the chosen seats; one step in three takes named seats anywhere instead (in
    any order, across rows), another frees seats, as releases and expiries do; after each
    step the index still chooses what the reference does."""
    rows, distance, grade_of, state = layout
    selector = selector_for(layout)
    for n, (count, section, grade, pick, picks) in enumerate(steps):
        if n % 3 == 1:
            free = [i for i, s in enumerate(state) if s == AVAILABLE]
            if free:
                named = list(dict.fromkeys(free[p % len(free)] for p in picks))
                for i in named:
                    state[i] = 1
                selector.taken(named)
            continue
        if n % 3 == 2:
            taken = [i for i, s in enumerate(state) if s != AVAILABLE]
            if taken:
                freed = sorted({taken[pick % len(taken)], taken[(pick * 7) % len(taken)]})
                for i in freed:
                    state[i] = AVAILABLE
                selector.freed(freed)
            continue
        expected = reference_choice(rows, distance, grade_of, state, count, section, grade)
        assert selector.best_key(count, section, grade) is None or expected is not None
        chosen = selector.choose(count, section, grade)
        assert chosen == expected
        if chosen is not None:
            for i in chosen:
                state[i] = 1
            selector.taken(chosen)


def test_keys_rank_clean_blocks_then_any_block_then_single_seats() -> None:
    # One row of five at distances 1..5: a clean pair exists (seats 0-1).
    rows = [RowIndex(start=0, end=5, section=0, lower_bound=1.0, grades=frozenset({0}))]
    distance = [1.0, 2.0, 3.0, 4.0, 5.0]
    selector = SeatSelector(rows, distance, [0] * 5, section_count=1, grade_count=1)
    selector.reset(bytearray(5))
    assert selector.best_key(2) == (CLEAN, 3.0)
    # Free seats 0, 1, 2 and 4: every pair now leaves an orphan.
    selector.reset(bytearray([0, 0, 0, 1, 0]))
    assert selector.best_key(2) == (ANY, 3.0)
    assert selector.choose(2) == [0, 1]
    # Free seats 0, 2 and 4: no pair at all, the two nearest single seats.
    selector.reset(bytearray([0, 1, 0, 1, 0]))
    assert selector.best_key(2) == (SINGLES, 4.0)
    assert selector.choose(2) == [0, 2]
    # Peeking does not take: the same answer again, and nothing for four seats.
    assert selector.choose(2) == [0, 2]
    assert selector.best_key(4) is None and selector.choose(4) is None


def test_the_demo_stadium_rows_are_scored_by_bit_scans() -> None:
    """Straight rows have block scores that fall to one lowest point and rise again, so
    their best block is found without walking the row; a few curved rows do not (their
    scores dip again near an end) and are walked in score order."""
    from engine.core.clock import ManualClock
    from engine.core.inventory import HoldPolicy, SeatInventory
    from engine.core.stadium import build_stadium

    inventory = SeatInventory(build_stadium(), HoldPolicy(), ManualClock(0.0))
    selector = inventory.selector
    assert selector.best_key(10) is not None
    shapes = [blocks.bottom >= 0 for row in selector._blocks for blocks in row[1:]]
    assert len(shapes) == 1_620 * 10
    assert sum(shapes) >= 0.98 * len(shapes)


@st.composite
def geometric_layouts(draw: st.DrawFn) -> Layout:
    """Straight rows of evenly spaced seats in front of a focal point, as venues are: block
    scores along a row fall and rise (symmetric rows tie across their lowest point)."""
    focal = draw(st.sampled_from([0.0, 0.5, 3.0, -7.25]))
    rows, distance, grade_of = [], [], []
    for r in range(draw(st.integers(1, 5))):
        length = draw(st.integers(1, 16))
        x0 = draw(st.sampled_from([-8.0, -4.5, 0.0, 2.0]))
        start = len(distance)
        ds = [((x0 + k - focal) ** 2 + (3.0 + r) ** 2) ** 0.5 for k in range(length)]
        distance += ds
        split = draw(st.integers(0, length))
        gs = [0] * split + [1] * (length - split)
        grade_of += gs
        rows.append(RowIndex(start=start, end=start + length, section=r % 2,
                             lower_bound=min(ds), grades=frozenset(gs)))
    state = bytearray(draw(st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=len(distance),
                                    max_size=len(distance))))
    return rows, distance, grade_of, state


@settings(max_examples=300, deadline=None)
@given(geometric_layouts(), st.integers(1, 6), st.sampled_from([None, 0, 1]),
       st.sampled_from([None, 0, 1]))
def test_geometric_rows_choose_as_the_reference(layout: Layout, count: int,
                                                section: int | None,
                                                grade: int | None) -> None:
    rows, distance, grade_of, state = layout
    expected = reference_choice(rows, distance, grade_of, state, count, section, grade)
    assert selector_for(layout).choose(count, section, grade) == expected
