from __future__ import annotations

import pytest

from engine.core.errors import InvalidCommand
from engine.core.stadium import build_stadium
from engine.core.venue import Row, Seat, Section, Venue, plan_shards

from ..helpers import small_venue


def test_stadium_is_a_realistic_size() -> None:
    venue = build_stadium()
    assert venue.seat_count >= 40_000
    assert len(venue.sections) >= 50
    grades = {s.grade for s in venue.seats()}
    assert grades == {"VIP", "R", "S", "A"}
    vip = [venue.distance(s) for s in venue.seats() if s.grade == "VIP"]
    upper = [venue.distance(s) for s in venue.seats() if s.section.startswith("2")]
    assert max(vip) < min(upper)


def test_layout_round_trips_through_its_dict_form() -> None:
    venue = build_stadium(lower_sections=4, upper_sections=4, floor_blocks=3)
    assert Venue.from_dict(venue.to_dict()) == venue


def test_duplicate_seat_ids_are_refused() -> None:
    seat = Seat("A-1-1", "A", "1", 1, "R", 10)
    with pytest.raises(InvalidCommand):
        Venue("v", (Section("A", "A", (Row("1", (seat, seat)),)),))


def test_malformed_layout_dict_is_a_domain_error() -> None:
    with pytest.raises(InvalidCommand):
        Venue.from_dict({"name": "x", "sections": [{"id": "A"}]})


def test_shard_plan_balances_seats_and_is_deterministic() -> None:
    venue = build_stadium()
    plan = plan_shards(venue, 4)
    assert plan == plan_shards(venue, 4)
    assert set(plan) == {s.id for s in venue.sections} | {t.id for t in venue.ticket_types}
    loads = [0] * 4
    for section in venue.sections:
        loads[plan[section.id]] += section.seat_count
    for t in venue.ticket_types:
        loads[plan[t.id]] += t.quantity
    assert max(loads) - min(loads) <= max(s.seat_count for s in venue.sections)


def test_subset_keeps_only_its_sections() -> None:
    venue = small_venue(ga=10)
    part = venue.subset(["B"], ["GA"])
    assert [s.id for s in part.sections] == ["B"]
    assert part.seat_count == 8 and part.ga_quantity == 10
