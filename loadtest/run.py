"""One command for a load run: creates the sale's event (through the admin API), provisions
buyers, runs a locust scenario headless, writes locust's CSV and HTML report, ends with
`tiketi audit` on the event, and summarises. Exits 1 on unexpected errors (anything but the
intended 409/429) or audit violations.

    python -m loadtest.run --scenario flash_sale --users 2000 --run-time 2m

Against the local engine (`make up`) it needs nothing else: it reads `.tiketi/engine.json`
and the admin password kept there. Elsewhere pass --host, --admin-email/--admin-password,
--gateway, and --api-provision (accounts registered over HTTP); the audit then needs
DATABASE_URL and REDIS_URL."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from engine.local.running import running_engine
from engine.settings import Settings
from loadtest.provision import provision
from loadtest.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


def sale_event(title: str, seats: int, *, opens_in_s: float, admission_rate: float,
               active_cap: int) -> dict[str, Any]:
    """An event with `seats` seats in sections of 20 rows × 25, sale opening soon."""
    now = datetime.now(UTC)
    per_section = 500
    sections = []
    for s in range(max(1, -(-seats // per_section))):
        left = min(per_section, seats - s * per_section)
        rows = [{"label": str(r + 1), "seats": min(25, left - r * 25), "grade": "R",
                 "price": 110_000, "y": 10.0 + s * 25 + r}
                for r in range(-(-left // 25))]
        sections.append({"id": f"S{s + 1}", "name": f"Section {s + 1}", "rows": rows})
    return {
        "title": title, "category": "concert", "description": "A load-test flash sale",
        "startsAt": (now + timedelta(days=30)).isoformat(),
        "saleOpensAt": (now + timedelta(seconds=opens_in_s)).isoformat(),
        "layout": {"name": "Load Arena", "sections": sections},
        "sale": {"admissionRate": admission_rate, "activeCap": active_cap, "perUserLimit": 4,
                 "holdTtlSeconds": 300, "heartbeatTimeoutSeconds": 60},
        "shardCount": 2,
    }


def create_event(host: str, email: str, password: str, body: dict[str, Any]) -> str:
    with httpx.Client(base_url=host, timeout=120) as http:
        login = http.post("/api/v1/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        token = login.json()["accessToken"]
        r = http.post("/api/v1/admin/events", json=body,
                      headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        return str(r.json()["id"])


def locust_summary(prefix: Path) -> dict[str, Any]:
    """Totals from locust's `<prefix>_stats.csv`: requests, failures, and intended answers."""
    rows = list(csv.DictReader((prefix.parent / f"{prefix.name}_stats.csv").open()))
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    intended = {r["Name"]: int(r["Request Count"]) for r in rows
                if r["Name"].endswith(("[409]", "[429]"))}
    by_name = {r["Name"]: {"requests": int(r["Request Count"]),
                           "failures": int(r["Failure Count"]),
                           "p50_ms": float(r["50%"] or 0), "p99_ms": float(r["99%"] or 0),
                           "rps": float(r["Requests/s"] or 0)}
               for r in rows if r["Name"] != "Aggregated"}
    return {"requests": int(total["Request Count"]) if total else 0,
            "failures": int(total["Failure Count"]) if total else 0,
            "rps": float(total["Requests/s"]) if total else 0.0,
            "intended": intended, "endpoints": by_name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="flash_sale")
    parser.add_argument("--host", help="the API (default: the local engine)")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--spawn-rate", type=float, default=100.0)
    parser.add_argument("--run-time", default="2m")
    parser.add_argument("--seats", type=int, default=3_000, help="seats of the sale's event")
    parser.add_argument("--opens-in", type=float, default=20.0,
                        help="seconds until the sale opens (buyers join the pre-queue)")
    parser.add_argument("--admission-rate", type=float, default=50.0)
    parser.add_argument("--event", help="use this event instead of creating one")
    parser.add_argument("--gateway", help="the fake gateway (default: the local engine's)")
    parser.add_argument("--admin-email")
    parser.add_argument("--admin-password")
    parser.add_argument("--api-provision", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    engine = running_engine(settings.data_dir)
    host = args.host or engine.get("api_url") or f"http://127.0.0.1:{settings.http.port}"
    gateway = args.gateway or engine.get("payment_gateway") or "http://127.0.0.1:8100"
    admin_email = args.admin_email or engine.get("admin_email") or settings.security.admin_email
    admin_password = (args.admin_password or settings.security.admin_password
                      or _stored_admin_password(settings))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out / f"{args.scenario}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)

    event_id = args.event or create_event(
        host, admin_email, admin_password,
        sale_event(f"Load {args.scenario} {stamp}", args.seats, opens_in_s=args.opens_in,
                   admission_rate=args.admission_rate, active_cap=max(args.users, 100)))
    print(f"event {event_id} on {host}", flush=True)
    started = time.monotonic()
    buyers = provision(settings, count=args.users, host=host, via_api=args.api_provision)
    buyers_file = out / "buyers.json"
    buyers_file.write_text(json.dumps(buyers))
    print(f"{len(buyers)} buyers provisioned in {time.monotonic() - started:.1f} s", flush=True)

    env = {**os.environ, "TIKETI_LOAD_EVENT": event_id, "TIKETI_LOAD_BUYERS": str(buyers_file),
           "TIKETI_LOAD_GATEWAY": gateway, "TIKETI_LOAD_ADMIN_EMAIL": admin_email,
           "TIKETI_LOAD_ADMIN_PASSWORD": admin_password}
    prefix = out / "locust"
    command = [sys.executable, "-m", "locust", "-f", str(Path(__file__).parent / "locustfile.py"),
               "--headless", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
               "--run-time", args.run_time, "--host", host, "--csv", str(prefix),
               "--html", str(out / "report.html"), "--only-summary", "--stop-timeout", "10",
               *SCENARIOS[args.scenario]]
    locust = subprocess.run(command, env=env, cwd=ROOT, check=False)
    summary = locust_summary(prefix)

    audit = subprocess.run([sys.executable, "-m", "engine.cli", "audit", "--event", event_id,
                            "--json"], capture_output=True, text=True, cwd=ROOT, check=False)
    (out / "audit.json").write_text(audit.stdout or audit.stderr)
    report = {"scenario": args.scenario, "host": host, "event": event_id,
              "users": args.users, "run_time": args.run_time, "locust_exit": locust.returncode,
              "locust": summary, "audit_exit": audit.returncode,
              "unexpected_errors": summary["failures"]}
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    print(f"{summary['requests']:,} requests, {summary['rps']:,.0f} req/s, "
          f"{summary['failures']} unexpected errors, intended: {summary['intended']}")
    print(f"audit: {'clean' if audit.returncode == 0 else 'VIOLATIONS'} ({out / 'audit.json'})")
    print(f"reports: {out}")
    return 0 if summary["failures"] == 0 and audit.returncode == 0 else 1


def _stored_admin_password(settings: Settings) -> str:
    path = settings.data_dir / "admin-password"
    return path.read_text().strip() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
