"""`engine.json`: what a running `tiketi up` says about itself in its data directory (the API
URL, the stores, the payment gateway), for the commands that work beside it."""

from __future__ import annotations

import json
from pathlib import Path

ENGINE_FILE = "engine.json"


def running_engine(data_dir: Path) -> dict[str, str]:
    """The text entries of the running engine's description; empty when none runs."""
    try:
        data = json.loads((data_dir / ENGINE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
