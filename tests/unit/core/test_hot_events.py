"""How many seat shards an upcoming sale's line asks for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.hot_events import seat_shards_for


def test_one_shard_per_share_of_the_line() -> None:
    plan = dict(current=1, units=12, users_per_shard=50_000, max_shards=8)
    assert seat_shards_for(0, **plan) == 1
    assert seat_shards_for(50_000, **plan) == 1
    assert seat_shards_for(50_001, **plan) == 2
    assert seat_shards_for(180_000, **plan) == 4
    assert seat_shards_for(1_000_000, **plan) == 8  # the ceiling


def test_a_section_is_never_split() -> None:
    assert seat_shards_for(1_000_000, current=1, units=3, users_per_shard=1_000,
                           max_shards=8) == 3


def test_a_plan_never_narrows() -> None:
    assert seat_shards_for(10, current=4, units=12, users_per_shard=1_000, max_shards=8) == 4


def test_nonsense_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        seat_shards_for(10, current=1, units=2, users_per_shard=0, max_shards=8)


@given(line=st.integers(0, 10**7), current=st.integers(1, 16), units=st.integers(1, 64),
       per=st.integers(1, 10**6), ceiling=st.integers(1, 32))
def test_the_answer_stays_within_its_bounds(line: int, current: int, units: int, per: int,
                                            ceiling: int) -> None:
    shards = seat_shards_for(line, current=current, units=units, users_per_shard=per,
                             max_shards=ceiling)
    assert shards >= current
    assert shards == current or shards <= min(units, ceiling)
    assert shards == current or shards * per >= line or shards == min(units, ceiling)
