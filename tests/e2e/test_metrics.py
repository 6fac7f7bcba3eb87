"""The engine's application metrics reach Ray's Prometheus endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import ray

from tests.e2e.conftest import OpenEvent
from tests.e2e.test_event_shards import two_sections


def _value(text: str, name: str, event_id: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and f'event_id="{event_id}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_queue_and_seat_figures_are_exported(
        open_event: Callable[..., Awaitable[OpenEvent]]) -> None:
    event = await open_event(two_sections(), shard_count=1, admission_rate=0.01, active_cap=1)
    event_id = str(event.record.id)
    for n in range(5):
        await event.queue.join(f"metrics-user-{n}")
    await event.seats.hold("holder", ["F-1-1", "F-1-2"], "k1")
    port = ray._private.worker.global_worker.node.metrics_export_port
    waiting = held = None
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(60):  # Ray exports metrics every few seconds
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            waiting = _value(text, "ray_tiketi_queue_length", event_id)
            held = _value(text, "ray_tiketi_held_seats", event_id)
            if waiting is not None and held is not None and waiting + 1 >= 5 and held >= 2:
                break
            await asyncio.sleep(1)
    assert waiting is not None and waiting >= 4  # one may be admitted already
    assert held == 2
