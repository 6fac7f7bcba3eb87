"""What every benchmark writes to `benchmarks/results/`: `<name>.json` (the figures, the
machine, the versions and the parameters), `<name>.md` (a markdown table) and `<name>.png`
(its main curve, drawn with matplotlib without a display)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.engine_bench import machine

RESULTS_DIR = Path(__file__).parent / "results"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(name: str, *, command: str, parameters: dict[str, Any],
                 results: dict[str, Any], table: str, notes: str = "",
                 plot: Callable[[Any], None] | None = None,
                 directory: Path = RESULTS_DIR) -> dict[str, Path]:
    """Writes the JSON, the markdown and (when `plot` draws on the axes it is given) the PNG;
    returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    m = machine()
    payload = {"benchmark": name, "at": at, "command": command, "machine": m,
               "parameters": parameters, "results": results}
    paths = {"json": directory / f"{name}.json", "md": directory / f"{name}.md"}
    paths["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    header = (f"# {name}\n\n`{command}` — {at}, {m['cores']} cores ({m['cpu_model']}), "
              f"Python {m['python']}, Ray {m['versions'].get('ray')}\n\n")
    paths["md"].write_text(header + table + "\n" + (f"\n{notes}\n" if notes else ""))
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
        plot(ax)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        paths["png"] = directory / f"{name}.png"
        fig.savefig(paths["png"])
        plt.close(fig)
    return paths
