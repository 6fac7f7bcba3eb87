"""The cost of one best-available request in a seat shard's core, on the demo stadium (47,400
seats), as the house fills from empty to 95 % sold: it must not grow as the house fills.

The house is filled as a flash sale fills it, one request at a time: half the requests name a
block of 1 to 4 adjacent seats drawn anywhere in the house (which breaks rows up), the other
half ask for the best 1 to 4 seats: anywhere (60 % of them), in one section (20 %) or of one
grade (20 %). Each best-available request is timed (`SeatInventory.hold_best`: the whole
command, idempotency and bookkeeping included, and whatever upkeep of the index the changes
since the last request of its kind cost), and its time is filed under the share of seats
taken when it ran. The table gives the bands around empty, half sold and 90 % sold. The first
request of each kind builds its part of the index; those are made once before the sale
(untimed, released again, and reported apart as a one-time cost).

`--baseline REF` runs the same sale, in the same run, on the engine of another commit (its
`engine/` package taken from git into a temporary directory), so that old and new are
compared side by side on identical requests. Results go to
`benchmarks/results/best_available_bench.{json,md,png}`.

Run: `python -m benchmarks.best_available_bench [--baseline REF]`."""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

BANDS = ((0.0, 0.05), (0.45, 0.55), (0.85, 0.95))
KINDS = ("anywhere", "in a section", "of a grade")
TARGET_US = 20.0
SHARD_GC_THRESHOLD = (50_000, 20, 100)  # what a shard process sets (engine.actors.shards)
ROOT = Path(__file__).resolve().parent.parent


def sell(inventory: Any, until: float, rng: random.Random) -> list[tuple[float, str, float]]:
    """Fills the house to `until` of its seats; returns (share taken, kind, seconds) for every
    best-available request."""
    from engine.core.errors import DomainError

    venue = inventory.venue
    rows = [row for section in venue.sections for row in section.rows if row.seats]
    sections = [s.id for s in venue.sections]
    grades = sorted({s.grade for s in venue.seats()})
    total = venue.seat_count
    taken = inventory.totals()["held"]
    timed: list[tuple[float, str, float]] = []
    n = 0
    while taken < until * total:
        n += 1
        user = f"buyer-{n}"
        count = rng.randint(1, 4)
        if rng.random() < 0.5:
            row = rng.choice(rows)
            start = rng.randrange(max(1, len(row.seats) - count + 1))
            try:
                view = inventory.hold(user, [s.id for s in row.seats[start:start + count]],
                                      "named")
            except DomainError:
                continue
            taken += len(view.seat_ids)
            continue
        pick = rng.random()
        kind = KINDS[0] if pick < 0.6 else KINDS[1] if pick < 0.8 else KINDS[2]
        section = rng.choice(sections) if kind == KINDS[1] else None
        grade = rng.choice(grades) if kind == KINDS[2] else None
        share = taken / total
        began = time.perf_counter()
        try:
            view = inventory.hold_best(user, count, "best", section, grade)
        except DomainError:
            timed.append((share, kind, time.perf_counter() - began))
            continue
        timed.append((share, kind, time.perf_counter() - began))
        taken += len(view.seat_ids)
    return timed


def warm_up(inventory: Any) -> int:
    """One request of every kind sold, untimed and released again: the first of a kind
    builds its part of the index."""
    sections = [s.id for s in inventory.venue.sections]
    grades = sorted({s.grade for s in inventory.venue.seats()})
    filters = [(None, None)] + [(s, None) for s in sections] + [(None, g) for g in grades]
    n = 0
    for count in range(1, 5):
        for section, grade in filters:
            n += 1
            view = inventory.hold_best(f"warm-{n}", count, "warm", section, grade)
            inventory.release(f"warm-{n}", view.hold_id, "undo")
    return n


def run_sale(seed: int) -> dict[str, Any]:
    """The whole sale, with the engine this process imports."""
    from engine.core.clock import ManualClock
    from engine.core.inventory import HoldPolicy, SeatInventory
    from engine.core.stadium import build_stadium

    venue = build_stadium()
    inventory = SeatInventory(venue, HoldPolicy(), ManualClock(1_000.0))
    gc.set_threshold(*SHARD_GC_THRESHOLD)
    began = time.perf_counter()
    first = warm_up(inventory)
    first_s = time.perf_counter() - began
    gc.collect()
    gc.freeze()
    timed = sell(inventory, BANDS[-1][1], random.Random(seed))
    bands = []
    for low, high in BANDS:
        kinds = {}
        for kind in KINDS:
            times = sorted(t for share, k, t in timed if k == kind and low <= share < high)
            if times:
                kinds[kind] = {"requests": len(times),
                               "median_us": statistics.median(times) * 1e6,
                               "p99_us": times[min(len(times) - 1, int(len(times) * 0.99))] * 1e6,
                               "mean_us": statistics.fmean(times) * 1e6}
        bands.append({"band": [low, high], "kinds": kinds})
    curve = []
    for k in range(20):
        low, high = k / 20 * BANDS[-1][1], (k + 1) / 20 * BANDS[-1][1]
        times = [t for share, _, t in timed if low <= share < high]
        if times:
            curve.append([(low + high) / 2, statistics.fmean(times) * 1e6])
    return {"first_requests": first, "first_requests_s": first_s, "bands": bands,
            "curve": curve, "requests": len(timed)}


def run_baseline(ref: str, seed: int) -> dict[str, Any]:
    """`run_sale` in a child process whose `engine` package is the one of commit `ref`."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "engine"], cwd=ROOT,
                             check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory(prefix="best-available-baseline-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(ROOT)])}
        code = ("import json; from benchmarks.best_available_bench import run_sale; "
                f"print(json.dumps(run_sale({seed})))")
        done = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                              capture_output=True, text=True, cwd=tmp)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import markdown_table, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", help="a git commit to measure side by side")
    args = parser.parse_args(argv)

    runs = {"this tree": run_sale(args.seed)}
    if args.baseline:
        runs[f"commit {args.baseline}"] = run_baseline(args.baseline, args.seed)
    rows = []
    for name, run in runs.items():
        for band in run["bands"]:
            low, high = band["band"]
            for kind, figures in band["kinds"].items():
                rows.append([name, f"{low:.0%}-{high:.0%}", kind, figures["requests"],
                             figures["median_us"], figures["p99_us"], figures["mean_us"]])
    worst = max(figures["mean_us"] for band in runs["this tree"]["bands"]
                for figures in band["kinds"].values())
    table = markdown_table(["engine", "seats taken", "best N", "requests", "median µs",
                            "p99 µs", "mean µs"], rows)
    notes = (f"Target: at most {TARGET_US:.0f} µs per request at every fill level; this tree's "
             f"worst mean: {worst:.1f} µs ({'met' if worst <= TARGET_US else 'NOT met'}). "
             "First requests of each kind (count 1-4 anywhere, in each section, of each "
             "grade), made before the sale: " + "; ".join(
                 f"{name}: {run['first_requests']} in {run['first_requests_s'] * 1e3:,.0f} ms"
                 for name, run in runs.items()) + ".")

    def plot(ax: Any) -> None:
        for name, run in runs.items():
            ax.plot([x * 100 for x, _ in run["curve"]], [y for _, y in run["curve"]],
                    marker="o", label=name)
        ax.axhline(TARGET_US, color="grey", linestyle="--", label="target")
        ax.set_yscale("log")
        ax.set_xlabel("seats taken (%)")
        ax.set_ylabel("µs per best-available request (mean)")
        ax.set_title("Best-available cost as the house fills (47,400 seats)")
        ax.legend(fontsize=8)

    command = "python -m benchmarks.best_available_bench" + (
        f" --baseline {args.baseline}" if args.baseline else "")
    write_report("best_available_bench", command=command,
                 parameters={"seed": args.seed, "baseline": args.baseline,
                             "bands": BANDS},
                 results={"runs": runs, "target_us": TARGET_US, "worst_mean_us": worst,
                          "met": worst <= TARGET_US},
                 table=table, notes=notes, plot=plot)
    print(table)
    print(notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
