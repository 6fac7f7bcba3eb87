"""The load runner end to end at a tiny scale against the session's engine: it creates the
sale, provisions buyers (direct mode), runs locust headless, writes the reports, and the
audit of the event passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ADMIN_PASSWORD, Engine

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_flash_sale_runs_headless_and_ends_audited(api: str, engine: Engine,
                                                           tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": engine.database_url, "REDIS_URL": engine.redis_url,
           "TIKETI_DATA_DIR": str(engine.settings.data_dir),
           "TIKETI_NAMESPACE": engine.settings.namespace}
    ran = subprocess.run(
        [sys.executable, "-m", "loadtest.run", "--scenario", "flash_sale", "--host", api,
         "--gateway", engine.gateway.url, "--admin-email", engine.settings.security.admin_email,
         "--admin-password", ADMIN_PASSWORD, "--users", "12", "--spawn-rate", "12",
         "--run-time", "15s", "--seats", "16", "--opens-in", "2", "--out", str(tmp_path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["unexpected_errors"] == 0 and summary["audit_exit"] == 0
    endpoints = summary["locust"]["endpoints"]
    bought = endpoints["payments confirm"]["requests"]
    assert bought >= 1, endpoints
    # 12 buyers want 1-4 seats each from 16: whoever is left without seats got a 409.
    assert endpoints["queue join"]["requests"] == 12
    refused = endpoints.get("seats lock [409]", {"requests": 0})["requests"]
    assert endpoints["seats lock"]["requests"] + refused == 12
    assert (run_dir / "report.html").exists() and (run_dir / "locust_stats.csv").exists()
    audit = json.loads((run_dir / "audit.json").read_text())
    assert audit["ok"] is True
