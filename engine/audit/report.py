"""The audit's result as text for people, or as JSON for tools."""

from __future__ import annotations

import json
from collections.abc import Mapping

from engine.audit.checks import AuditResult


def format_json(result: AuditResult) -> str:
    return json.dumps({
        "ok": result.ok,
        "summary": result.summary,
        "violations": [{"kind": v.kind, "detail": v.detail} for v in result.violations],
    }, indent=2)


def format_text(result: AuditResult) -> str:
    s = result.summary
    lines = [
        f"audit of event {result.event_id} ({result.title}) at {s['audited_at']}, "
        f"{s['shard_count']} seat shard(s), hold grace {s['hold_grace_s']:g} s",
        f"  reservations  {_counts(s['reservations'])}",
        f"  payments      {_counts(s['payments'])}",
        f"  seats         {s['confirmed_seats_db']} confirmed in PostgreSQL, "
        f"{s['sold_seats_shards']} sold in the shards, {s['live_holds']} live hold(s), "
        f"{s['active_seat_items']} active seat item(s)",
    ]
    for shard in s["shards"]:
        head = f"  shard {shard['shard']:<7} "
        if shard["error"] is not None:
            lines.append(f"{head}unreadable: {shard['error']}")
            continue
        journal = (f"journal at {shard['seq']} (snapshot {shard['snapshot_seq']} "
                   f"+ {shard['replayed']} replayed)" if shard["started"] else "never started")
        lines.append(f"{head}{shard['sold_seats']} sold / {shard['confirmed_seats_db']} "
                     f"confirmed, {shard['live_holds']} hold(s) "
                     f"({shard['stale_holds']} past expiry + grace), {journal}")
    if result.ok:
        lines.append("OK: no violations")
        return "\n".join(lines)
    lines.append(f"{len(result.violations)} violation(s): {_counts(s['violations'])}")
    width = max(len(v.kind) for v in result.violations)
    lines += [f"  {v.kind:<{width}}  {v.detail}" for v in result.violations]
    return "\n".join(lines)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "none"
