"""Hold ids and seat ids are written and read back in one place."""

from __future__ import annotations

import pytest

from engine.core.errors import HoldNotFound
from engine.core.ids import (
    HoldId,
    HoldPart,
    hold_digest,
    join_parts,
    local_part,
    quota_ref,
    seat_id,
    seat_section,
    shard_of,
)


def test_a_hold_id_reads_back_as_its_parts_in_order() -> None:
    digest = hold_digest("u", "k", "hold", ["A-1-1"])
    text = join_parts([str(HoldPart(0, digest)), str(HoldPart(2, digest))])
    assert text == f"0.{digest}+2.{digest}"
    hold = HoldId.parse(text, shard_count=3)
    assert hold.parts == (HoldPart(0, digest), HoldPart(2, digest))
    assert str(hold) == text
    assert hold.quota_ref == digest == quota_ref(text)
    assert [shard_of(str(p)) for p in hold.parts] == [0, 2]


def test_the_same_request_names_the_same_hold_and_another_request_another() -> None:
    assert hold_digest("u", "k", 2, None) == hold_digest("u", "k", 2, None)
    assert hold_digest("u", "k", 2, None) != hold_digest("u", "k", 3, None)
    assert hold_digest("u", "k", 2) != hold_digest("v", "k", 2)
    assert len(hold_digest("u", "k")) == 24


@pytest.mark.parametrize("text", ["", "abc", "0.", ".x", "x.y", "3.abc", "0.a+9.b", "0.a++1.b",
                                  "-1.a", "0" * 1_001, None, 7])
def test_what_is_not_one_of_our_hold_ids_is_not_found(text: object) -> None:
    with pytest.raises(HoldNotFound):
        HoldId.parse(text, shard_count=3)


def test_parts_a_shard_names_itself_are_parts_of_that_shard() -> None:
    part = local_part("1.a3f9c0", 12)
    assert part == "1.a3f9c0-12"
    assert HoldId.parse(part, shard_count=2).parts == (HoldPart(1, "a3f9c0-12"),)


def test_join_keeps_each_part_once_in_order() -> None:
    assert join_parts(["1.b", "0.a", "1.b"]) == "1.b+0.a"


def test_a_seat_id_gives_back_its_section_even_with_dashes_in_it() -> None:
    assert seat_id("VIP-North", "12", 7) == "VIP-North-12-7"
    assert seat_section("VIP-North-12-7") == "VIP-North"
    assert seat_section(seat_id("A", "1", 1)) == "A"
