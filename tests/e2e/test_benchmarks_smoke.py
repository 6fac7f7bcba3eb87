"""The benchmark scripts at a tiny scale on the session's engine: the WebSocket benchmark
updates every socket it opens and accounts for the CPU of the processes that serve them; the
scaling benchmark measures every configuration; both write their JSON, markdown and plot."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from api.security.tokens import TokenService
from benchmarks import scaling_bench, ws_bench
from engine.actors.config import ShardConfig
from engine.actors.directory import ShardDirectory
from engine.core.stadium import build_stadium
from engine.serve.context import signing_key
from tests.e2e.conftest import Engine


def _written(paths: dict[str, Path]) -> dict[str, Any]:
    assert set(paths) == {"json", "md", "png"}
    assert paths["png"].read_bytes().startswith(b"\x89PNG")
    assert paths["md"].read_text().count("\n|") >= 2
    data: dict[str, Any] = json.loads(paths["json"].read_text())
    assert data["machine"]["cores"] and data["results"]
    return data


async def test_ws_bench_updates_every_socket_within_two_seconds(
    engine: Engine, api: str, open_event: Any, tmp_path: Path
) -> None:
    sale = ws_bench.ws_sale_settings(admit_rate=2.0)
    event = await open_event(build_stadium(floor_blocks=1, lower_sections=0, upper_sections=0,
                                           standing=0),
                             admission_rate=sale.admission_rate, active_cap=sale.active_cap,
                             heartbeat_timeout_s=sale.heartbeat_timeout_s,
                             session_ttl_s=sale.session_ttl_s)
    key = signing_key(engine.settings)
    target = ws_bench.Target("127.0.0.1", engine.settings.http.port, str(event.record.id),
                             TokenService(signing=key, verification=[key.verification]))

    run = await ws_bench.measure(target, steps=[10, 40], pads=30, window_s=3.0, settle_s=1.5,
                                 client_procs=1, join_concurrency=16, open_concurrency=16)

    assert [s.target for s in run.steps] == [10, 40]
    for step in run.steps:
        assert step.open_failures == {}
        assert step.open_through_window == step.target
        assert step.share_updated_within_2s == 1.0, step
        assert step.max_gap_worst_s <= ws_bench.UPDATE_WITHIN_S
        assert step.updates_per_s >= step.target / ws_bench.UPDATE_WITHIN_S
        assert step.unexpected_messages == 0, run.sample_unexpected
    for role in ws_bench.SERVED_BY:
        assert run.processes.get(role), f"no {role} process found among {run.processes}"
    assert run.steps[-1].cpu_us_per_update is not None
    assert run.steps[-1].cpu_us_per_update > 0

    parameters = {"via": "haproxy", "serve_replicas": "(one per service)", "window_s": 3.0,
                  "settle_s": 1.5, "steps": [10, 40]}
    data = _written(ws_bench.report(run, parameters, "smoke", tmp_path))
    assert len(data["results"]["steps"]) == 2


async def test_scaling_bench_measures_every_configuration(
    engine: Engine, tmp_path: Path
) -> None:
    settings = replace(engine.settings,
                       shards=replace(engine.settings.shards, snapshot_every_ops=100_000))
    directory = ShardDirectory(
        settings.namespace,
        lambda event_id, shard: ShardConfig.from_settings(
            settings, event_id=event_id, shard=shard, database_url=engine.database_url,
            redis_url=engine.redis_url),
        shard_cpus=settings.shards.cpus)
    args = scaling_bench.parse_args(["--shards", "1,2", "--events", "1,2", "--seats", "40000",
                                     "--concurrency", "8", "--batch", "50", "--warmup", "0.2",
                                     "--duration", "0.6", "--rounds", "1"])

    points = await scaling_bench.run_all(scaling_bench.Stack(engine.database_url, directory),
                                         args)

    assert [(p.events, p.shards_per_event) for p in points] == [(1, 1), (1, 2), (2, 1)]
    assert points[0].series == ["shards", "events"]
    for point in points:
        assert point.ops_per_s > 0
        assert point.runs[0].ops > 0
        assert 0 < point.machine_busy_percent <= 100
        assert point.cores_by_role.get("seat shards", 0) > 0
    data = _written(scaling_bench.report(points, args, "smoke", tmp_path))
    assert len(data["results"]["configurations"]) == 3
