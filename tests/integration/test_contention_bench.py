"""The contention benchmark's core, tiny, on the session's real PostgreSQL and Redis: the
seed's Redis-lock design and PostgreSQL row locks sell every seat once, sell out when buyers
outnumber seats, and the report has its figures. The engine's design needs Ray: see
tests/e2e/test_contention_bench.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from benchmarks.contention_bench import (
    HEADERS,
    Params,
    choose_block,
    layout_of,
    run_contention,
    write,
)
from engine.core.stadium import build_stadium
from engine.core.venue import Venue
from engine.local.redis_server import EmbeddedRedis

PARAMS = Params(buyers=60, concurrency=8, pool=4, hot_fraction=0.25, rounds=2)
FIGURES = {"seats_held", "seats_held_per_s", "sold_out", "sold_out_s", "all_sales_in_pg_s",
           "time_to_hold_p50_ms", "time_to_hold_p99_ms", "failed_attempts",
           "buyers_without_seats", "double_sells", "seats_sold_in_pg", "held_curve"}


def tiny_venue() -> Venue:
    """Two floor blocks of 3 rows of 8 seats: 48 seats, wanted by 60 buyers of 1 to 4 each."""
    return build_stadium("Tiny Hall", floor_blocks=2, floor_rows=3, floor_seats=8,
                         lower_sections=0, upper_sections=0, standing=0)


def test_a_block_is_adjacent_seats_of_one_row() -> None:
    layout = layout_of(tiny_venue(), 0.25)
    first_row = layout.seat_ids[:8]
    window = [first_row[0], first_row[2], first_row[3], first_row[4], layout.seat_ids[8]]
    assert choose_block(window, 3, layout, 1, random.Random(1)) == tuple(window[1:4])
    # No three adjacent seats: the best three, whatever their places.
    assert choose_block(window[:2] + window[4:], 3, layout, 1, random.Random(1)) == (
        window[0], window[1], window[4])


async def test_redis_locks_and_row_locks_sell_each_seat_once_and_sell_out(
    database: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    venue = tiny_venue()
    report = await run_contention(PARAMS, venue, database_url=database,
                                  redis_url=redis_server.url, designs=("b", "c"))

    assert set(report["designs"]) == {"redis_locks", "pg_row_locks"}
    for name, figures in report["designs"].items():
        assert figures.keys() >= FIGURES, name
        assert figures["double_sells"] == 0, name
        assert figures["sold_out"], f"{name} left seats unsold: {figures}"
        assert figures["seats_held"] == figures["seats_sold_in_pg"] == venue.seat_count, name
        assert figures["seats_sold_in_design"] == venue.seat_count, name
        assert figures["held_curve"][-1][1] == venue.seat_count, name
        assert figures["buyers_without_seats"] > 0, "buyers outnumbered the seats"
    assert report["ratios"] == {}
    assert [len(rounds) for rounds in report["rounds"].values()] == [2, 2]
    assert all(r["double_sells"] == 0 for rounds in report["rounds"].values() for r in rounds)

    paths = write(report, PARAMS, command="test", directory=tmp_path)
    saved = json.loads(paths["json"].read_text())
    assert saved["benchmark"] == "contention_bench"
    assert saved["parameters"]["buyers"] == PARAMS.buyers
    assert saved["parameters"]["seats"] == venue.seat_count
    assert saved["results"]["designs"]["pg_row_locks"]["double_sells"] == 0
    assert {"cores", "versions"} <= saved["machine"].keys()
    assert all(h in paths["md"].read_text() for h in HEADERS)
    assert paths["png"].stat().st_size > 0


async def test_design_a_needs_a_shard_directory(
    database: str, redis_server: EmbeddedRedis
) -> None:
    with pytest.raises(ValueError, match="shard directory"):
        await run_contention(Params(buyers=2, concurrency=1, pool=1), tiny_venue(),
                             database_url=database, redis_url=redis_server.url,
                             designs=("a",))
