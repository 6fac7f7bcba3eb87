"""The engine's application metrics, exported with `ray.util.metrics` (Ray serves them at its
Prometheus endpoint with a `ray_` prefix, e.g. `ray_tiketi_queue_length`). Shards report what
they hold; outside a Ray worker (tests of the services alone) reporting does nothing."""

from __future__ import annotations

from typing import Any

import ray

_metrics: dict[str, Any] = {}


def _metric(kind: str, name: str, description: str) -> Any:
    metric = _metrics.get(name)
    if metric is None:
        from ray.util import metrics

        cls = {"gauge": metrics.Gauge, "counter": metrics.Counter}[kind]
        metric = _metrics[name] = cls(name, description=description,
                                      tag_keys=("event_id", "shard"))
    return metric


class ShardMetrics:
    """One shard's figures; counters are fed the increase of the totals they follow."""

    def __init__(self, event_id: str, shard: int) -> None:
        self._tags = {"event_id": event_id, "shard": str(shard)}
        self._last: dict[str, float] = {}
        self.enabled = ray.is_initialized()

    def gauge(self, name: str, value: float, description: str) -> None:
        if self.enabled:
            _metric("gauge", name, description).set(value, tags=self._tags)

    def total(self, name: str, value: float, description: str) -> None:
        """Counts up to `value`, a running total (a restarted shard starts from its own)."""
        if not self.enabled:
            return
        last = self._last.get(name)
        self._last[name] = value
        if last is not None and value > last:
            _metric("counter", name, description).inc(value - last, tags=self._tags)


def report_queue(m: ShardMetrics, summary: Any) -> None:
    m.gauge("tiketi_queue_length", summary.waiting + summary.prequeue,
            "Users waiting in an event's line (and its pre-queue)")
    m.gauge("tiketi_queue_active", summary.active, "Users admitted and shopping")
    m.gauge("tiketi_admission_rate", summary.rate, "Admissions per second")
    m.total("tiketi_admitted_total", summary.admitted_total, "Users admitted")


def report_seats(m: ShardMetrics, totals: dict[str, int]) -> None:
    m.gauge("tiketi_holds", totals["holds"], "Live holds")
    m.gauge("tiketi_held_seats", totals["held"], "Seats and tickets held")
    m.gauge("tiketi_available", totals["available"], "Seats and tickets on sale")
    m.total("tiketi_sold_total", totals["sold"], "Seats and tickets sold")
