"""The contention benchmark's engine design, tiny, on the session's Ray: the event's seat
shards sell every seat once, every sale ends CONFIRMED in PostgreSQL with the shards agreeing,
and the event sells out when buyers outnumber seats."""

from __future__ import annotations

import pytest

from benchmarks.contention_bench import Params, run_contention
from engine.core.stadium import build_stadium
from tests.e2e.conftest import Engine


@pytest.mark.parametrize(("shards", "after_sold_out"), [(1, False), (2, False), (1, True)])
async def test_the_engine_sells_each_seat_once_and_sells_out(engine: Engine, shards: int,
                                                             after_sold_out: bool) -> None:
    venue = build_stadium("Tiny Hall", floor_blocks=2, floor_rows=3, floor_seats=8,
                          lower_sections=0, upper_sections=0, standing=0)
    params = Params(buyers=60, concurrency=8, pool=4, hot_fraction=0.25, shards=shards,
                    record_after_sold_out=after_sold_out)
    report = await run_contention(params, venue, database_url=engine.database_url,
                                  redis_url=engine.redis_url, designs=("a",),
                                  directory=lambda: engine.directory)

    figures = report["designs"]["engine"]
    assert figures["double_sells"] == 0
    assert figures["sold_out"], figures
    assert figures["seats_held"] == figures["seats_sold_in_pg"] == venue.seat_count
    assert figures["seats_sold_in_design"] == venue.seat_count, "the shards agree"
    assert figures["pg_curve"][-1][1] == venue.seat_count
    assert figures["all_sales_in_pg_s"] >= figures["sold_out_s"]
    if after_sold_out:
        assert figures["pg_curve"][1][0] >= figures["sold_out_s"], "recorded once sold out"
