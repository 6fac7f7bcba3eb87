"""The markdown table and the PNG plot of `engine_bench` and `http_bench`, drawn from their
JSON (each script calls this after writing it; `python -m benchmarks.render` redraws both
from the files in `results/`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS_DIR, markdown_table


def _header(report: dict[str, Any]) -> str:
    m = report["machine"]
    return (f"# {report['benchmark']}\n\n`{report['command'].strip()}` — {report['at']}, "
            f"{m['cores']} cores ({m['cpu_model']}), Python {m['python']}, "
            f"Ray {m['versions'].get('ray')}\n\n")


def _bars(path: Path, labels: list[str], series: dict[str, list[float]], ylabel: str,
          title: str, *, log: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    width = 0.8 / max(1, len(series))
    for n, (name, values) in enumerate(series.items()):
        ax.bar([i + n * width for i in range(len(labels))], values, width, label=name)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))], labels,
                  rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render_engine_bench(report: dict[str, Any], directory: Path = RESULTS_DIR) -> None:
    modes = report["modes"]
    rows = [[name, round(m["seat_ops_per_s"]), round(m["queue_ops_per_s"]), m["notes"]]
            for name, m in modes.items()]
    table = markdown_table(["mode", "seat ops/s", "queue ops/s", "how"], rows)
    (directory / "engine_bench.md").write_text(_header(report) + table + "\n")
    _bars(directory / "engine_bench.png", list(modes),
          {"seat ops/s": [m["seat_ops_per_s"] for m in modes.values()],
           "queue ops/s": [m["queue_ops_per_s"] for m in modes.values()]},
          "operations per second (log)", "engine_bench: operations per second by mode",
          log=True)


def render_http_bench(report: dict[str, Any], directory: Path = RESULTS_DIR) -> None:
    endpoints = report["endpoints"]
    rows = [[name, round(e["rps"]), e["p50_ms"], e["p99_ms"],
             "-" if e["ratio_to_serve_hello"] is None else e["ratio_to_serve_hello"],
             "-" if e["ratio_to_uvicorn_hello"] is None else e["ratio_to_uvicorn_hello"]]
            for name, e in endpoints.items()]
    table = markdown_table(["endpoint", "req/s", "p50 ms", "p99 ms", "vs Serve hello",
                            "vs uvicorn hello"], rows)
    targets = "\n".join(f"- target {name}: >= {t['ratio_to_serve_hello']:.0%} of the Serve "
                        f"hello-world: {'met' if t['met'] else 'not met'}"
                        for name, t in report.get("targets", {}).items())
    wire = report.get("wire") or {}
    if wire:
        table += "\n\n" + markdown_table(
            ["seat layout", "body bytes on the wire", "content-encoding", "cache-control"],
            [[name, w["body_bytes"], w["content_encoding"], w["cache_control"] or "-"]
             for name, w in wire.items()])
    (directory / "http_bench.md").write_text(_header(report) + table + "\n\n" + targets + "\n")
    _bars(directory / "http_bench.png", list(endpoints),
          {"req/s": [e["rps"] for e in endpoints.values()]},
          "requests per second", "http_bench: 64 clients, each endpoint")


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or ["engine_bench", "http_bench"]
    renderers = {"engine_bench": render_engine_bench, "http_bench": render_http_bench}
    for name in names:
        renderers[name](json.loads((RESULTS_DIR / f"{name}.json").read_text()))
        print(f"drew {RESULTS_DIR / name}.md and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
