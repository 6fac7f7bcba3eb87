"""The scenarios and the locust user classes each runs (kept apart from the locustfile, whose
import patches the standard library for gevent)."""

from __future__ import annotations

SCENARIOS: dict[str, list[str]] = {
    "flash_sale": ["FlashSaleBuyer"],
    "browse": ["Browser"],
    "admin": ["Admin"],
    "mixed": ["Browser", "QueueWatcher", "Reserver", "AuthUser", "Admin"],
}
