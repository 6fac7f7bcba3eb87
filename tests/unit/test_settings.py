from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.settings import (
    SETTINGS_DOC,
    AutoscaleSettings,
    PaymentSettings,
    Settings,
    SettingsError,
    settings_table,
)

ROOT = Path(__file__).resolve().parents[2]

# Every environment variable the settings read, with its default as the README shows it: a
# deployment's environment must keep meaning what it meant.
DEFAULTS = {
    "TIKETI_DATA_DIR": ".tiketi",
    "DATABASE_URL": "",
    "REDIS_URL": "",
    "TIKETI_PG_PORT": "0",
    "TIKETI_REDIS_PORT": "0",
    "RAY_ADDRESS": "",
    "TIKETI_RAY_NUM_CPUS": "",
    "TIKETI_NAMESPACE": "tiketi",
    "TIKETI_SHARDS_PER_EVENT": "2",
    "TIKETI_SHARD_CPUS": "0.05",
    "TIKETI_SHARD_LINK_HOST": "127.0.0.1",
    "TIKETI_SNAPSHOT_EVERY_OPS": "100000",
    "TIKETI_SNAPSHOT_EVERY_S": "30.0",
    "TIKETI_SWEEP_INTERVAL_S": "0.5",
    "TIKETI_QUEUE_TICK_S": "0.1",
    "TIKETI_QUEUE_PUBLISH_S": "0.25",
    "TIKETI_DEMO_EVENT": "1",
    "TIKETI_DEMO_OPENS_IN_S": "60.0",
    "TIKETI_HTTP_HOST": "127.0.0.1",
    "TIKETI_HTTP_PORT": "8000",
    "TIKETI_HA_PROXY": "1",
    "TIKETI_METRICS_PORT": "9101",
    "TIKETI_HAPROXY_STATS_PORT": "8404",
    "TIKETI_ACCESS_LOG": "0",
    "TIKETI_QUEUE_MAX_ONGOING": "5000",
    "TIKETI_AUTOSCALE": "0",
    "TIKETI_AUTOSCALE_MIN_REPLICAS": "3",
    "TIKETI_AUTOSCALE_MAX_REPLICAS": "100",
    "TIKETI_AUTOSCALE_QUEUE_USERS": "10000",
    "TIKETI_AUTOSCALE_ADMITTED_USERS": "2000",
    "TIKETI_AUTOSCALE_REQUESTS": "500",
    "TIKETI_AUTOSCALE_UPSCALE_DELAY_S": "5.0",
    "TIKETI_AUTOSCALE_DOWNSCALE_DELAY_S": "60.0",
    "TIKETI_AUTOSCALE_INTERVAL_S": "2.0",
    "TIKETI_REPLICA_CPUS": "0.1",
    "TIKETI_HOT_EVENTS": "0",
    "TIKETI_HOT_USERS_PER_SEAT_SHARD": "50000",
    "TIKETI_HOT_MAX_SEAT_SHARDS": "8",
    "TIKETI_HOT_RESHARD_LEAD_S": "30.0",
    "TIKETI_REDIS_CLUSTER": "0",
    "TIKETI_SERVE_REPLICAS": "",
    "TIKETI_JWT_PRIVATE_KEY": "",
    "TIKETI_JWT_PRIVATE_KEY_FILE": "",
    "TIKETI_RATE_LIMIT_PER_MIN": "100",
    "TIKETI_TRUSTED_HOPS": "0",
    "TIKETI_MAX_BODY_BYTES": "1048576",
    "TIKETI_EVENT_CACHE_TTL_S": "30.0",
    "TIKETI_SEATMAP_REFRESH_S": "1.0",
    "TIKETI_ADMIN_EMAIL": "admin@tiketi.local",
    "TIKETI_ADMIN_PASSWORD": "",
    "TIKETI_PAYMENT_GATEWAY_URL": "",
    "TIKETI_PAYMENT_SECRET_KEY": "",
    "TIKETI_PAYMENT_CLIENT_KEY": "test_ck_tiketi_local",
    "TIKETI_FAKE_GATEWAY_PORT": "8100",
    "TIKETI_PAYMENT_TIMEOUT_S": "10.0",
    "TIKETI_PAYMENT_RETRIES": "2",
    "TIKETI_BREAKER_FAILURES": "5",
    "TIKETI_BREAKER_RESET_S": "30.0",
    "TIKETI_LOG_LEVEL": "INFO",
    "TIKETI_PAYMENT_ANSWER_S": "5.0",
    "TIKETI_SAGA_LEASE_S": "15.0",
    "TIKETI_DB_ACQUIRE_TIMEOUT_S": "5.0",
    "TIKETI_PAYMENTS_DB_POOL": "16",
    "TIKETI_PAYMENTS_MAX_ONGOING": "32",
}

# A value other than the default for each of them.
SET = {
    "TIKETI_DATA_DIR": "/srv/tiketi",
    "DATABASE_URL": "postgresql://db/x",
    "REDIS_URL": "redis://r/0",
    "TIKETI_PG_PORT": "5544",
    "TIKETI_REDIS_PORT": "6380",
    "RAY_ADDRESS": "ray://head:10001",
    "TIKETI_RAY_NUM_CPUS": "3",
    "TIKETI_NAMESPACE": "other-ns",
    "TIKETI_SHARDS_PER_EVENT": "4",
    "TIKETI_SHARD_CPUS": "0.5",
    "TIKETI_SHARD_LINK_HOST": "node",
    "TIKETI_SNAPSHOT_EVERY_OPS": "7",
    "TIKETI_SNAPSHOT_EVERY_S": "2.5",
    "TIKETI_SWEEP_INTERVAL_S": "0.75",
    "TIKETI_QUEUE_TICK_S": "0.3",
    "TIKETI_QUEUE_PUBLISH_S": "0.4",
    "TIKETI_DEMO_EVENT": "0",
    "TIKETI_DEMO_OPENS_IN_S": "5.0",
    "TIKETI_HTTP_HOST": "10.0.0.5",
    "TIKETI_HTTP_PORT": "8080",
    "TIKETI_HA_PROXY": "0",
    "TIKETI_METRICS_PORT": "9102",
    "TIKETI_HAPROXY_STATS_PORT": "8405",
    "TIKETI_ACCESS_LOG": "1",
    "TIKETI_QUEUE_MAX_ONGOING": "6000",
    "TIKETI_AUTOSCALE": "1",
    "TIKETI_AUTOSCALE_MIN_REPLICAS": "2",
    "TIKETI_AUTOSCALE_MAX_REPLICAS": "9",
    "TIKETI_AUTOSCALE_QUEUE_USERS": "11",
    "TIKETI_AUTOSCALE_ADMITTED_USERS": "12",
    "TIKETI_AUTOSCALE_REQUESTS": "13",
    "TIKETI_AUTOSCALE_UPSCALE_DELAY_S": "1.5",
    "TIKETI_AUTOSCALE_DOWNSCALE_DELAY_S": "2.5",
    "TIKETI_AUTOSCALE_INTERVAL_S": "3.5",
    "TIKETI_REPLICA_CPUS": "0.25",
    "TIKETI_HOT_EVENTS": "1",
    "TIKETI_HOT_USERS_PER_SEAT_SHARD": "14",
    "TIKETI_HOT_MAX_SEAT_SHARDS": "15",
    "TIKETI_HOT_RESHARD_LEAD_S": "16.5",
    "TIKETI_REDIS_CLUSTER": "1",
    "TIKETI_SERVE_REPLICAS": "queue=4",
    "TIKETI_JWT_PRIVATE_KEY": "PEM",
    "TIKETI_JWT_PRIVATE_KEY_FILE": "/keys/jwt.pem",
    "TIKETI_RATE_LIMIT_PER_MIN": "17",
    "TIKETI_TRUSTED_HOPS": "1",
    "TIKETI_MAX_BODY_BYTES": "2048",
    "TIKETI_EVENT_CACHE_TTL_S": "18.5",
    "TIKETI_SEATMAP_REFRESH_S": "19.5",
    "TIKETI_ADMIN_EMAIL": "root@example.com",
    "TIKETI_ADMIN_PASSWORD": "secret",
    "TIKETI_PAYMENT_GATEWAY_URL": "https://pay.example",
    "TIKETI_PAYMENT_SECRET_KEY": "sk",
    "TIKETI_PAYMENT_CLIENT_KEY": "ck",
    "TIKETI_FAKE_GATEWAY_PORT": "8101",
    "TIKETI_PAYMENT_TIMEOUT_S": "20.5",
    "TIKETI_PAYMENT_RETRIES": "3",
    "TIKETI_BREAKER_FAILURES": "6",
    "TIKETI_BREAKER_RESET_S": "21.5",
    "TIKETI_LOG_LEVEL": "DEBUG",
    "TIKETI_PAYMENT_ANSWER_S": "22.5",
    "TIKETI_SAGA_LEASE_S": "23.5",
    "TIKETI_DB_ACQUIRE_TIMEOUT_S": "24.5",
    "TIKETI_PAYMENTS_DB_POOL": "25",
    "TIKETI_PAYMENTS_MAX_ONGOING": "26",
}


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == Path(".tiketi")
    assert settings.stores.database_url is None and settings.stores.redis_url is None
    assert settings.demo.enabled is True


def test_environment_values_are_parsed_by_type() -> None:
    settings = Settings.from_env({
        "TIKETI_DATA_DIR": "/srv/tiketi", "DATABASE_URL": "postgresql://db/x",
        "TIKETI_PG_PORT": "5544", "TIKETI_DEMO_EVENT": "off", "TIKETI_SNAPSHOT_EVERY_S": "2.5",
        "TIKETI_RAY_NUM_CPUS": "",
    })
    assert settings.data_dir == Path("/srv/tiketi")
    assert settings.stores.database_url == "postgresql://db/x"
    assert settings.stores.pg_port == 5544 and settings.demo.enabled is False
    assert settings.shards.snapshot_every_s == 2.5 and settings.ray.num_cpus is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("TIKETI_PG_PORT", "http"), ("TIKETI_PG_PORT", "70000"), ("TIKETI_DEMO_EVENT", "maybe"),
     ("TIKETI_SHARDS_PER_EVENT", "0"), ("TIKETI_NAMESPACE", "a b"),
     ("TIKETI_QUEUE_TICK_S", "-1")],
)
def test_bad_values_are_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("TIKETI_PG_PORT", "http", "TIKETI_PG_PORT='http' is not a valid int"),
     ("TIKETI_PG_PORT", "70000", "pg_port must be a TCP port, not 70000"),
     ("TIKETI_REDIS_PORT", "-1", "redis_port must be a TCP port, not -1"),
     ("TIKETI_ACCESS_LOG", "2", "TIKETI_ACCESS_LOG='2' is not a valid bool"),
     ("TIKETI_SHARD_CPUS", "x", "TIKETI_SHARD_CPUS='x' is not a valid float"),
     ("TIKETI_SNAPSHOT_EVERY_S", "0", "snapshot intervals must be positive"),
     ("TIKETI_SWEEP_INTERVAL_S", "0", "intervals must be positive"),
     ("TIKETI_HTTP_PORT", "0", "TIKETI_HTTP_PORT must be a TCP port"),
     ("TIKETI_MAX_BODY_BYTES", "1000",
      "the rate limit must be positive and bodies at least 1 KiB"),
     ("TIKETI_RATE_LIMIT_PER_MIN", "0",
      "the rate limit must be positive and bodies at least 1 KiB"),
     ("TIKETI_REPLICA_CPUS", "0", "TIKETI_SHARD_CPUS and TIKETI_REPLICA_CPUS must be positive"),
     ("TIKETI_AUTOSCALE_MAX_REPLICAS", "2",
      "autoscaling thresholds must be positive and min <= max"),
     ("TIKETI_AUTOSCALE_INTERVAL_S", "0",
      "autoscaling delays must be non-negative, intervals positive"),
     ("TIKETI_HOT_RESHARD_LEAD_S", "-1", "hot-event thresholds must be positive"),
     ("TIKETI_PAYMENTS_DB_POOL", "0",
      "payment timeouts, lease, pool and concurrency must be positive"),
     ("TIKETI_SEATMAP_REFRESH_S", "0", "hops must be non-negative and intervals positive"),
     ("TIKETI_SERVE_REPLICAS", "queue=0", "TIKETI_SERVE_REPLICAS: 'queue=0' needs at least 1")],
)
def test_each_refusal_says_what_is_wrong(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})
    assert str(refused.value) == message


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "regenerate the README's table from settings_table()"
    assert len(SETTINGS_DOC) >= 15


def test_every_environment_variable_keeps_its_name_and_default() -> None:
    assert dict((name, default) for name, default, _ in SETTINGS_DOC) == DEFAULTS
    shown = {name: value for name, value in Settings().to_env().items() if value}
    assert shown == {name: value for name, value in DEFAULTS.items() if value}


def test_every_variable_is_read_into_the_setting_it_is_written_from() -> None:
    assert SET.keys() == DEFAULTS.keys() and all(SET[k] != DEFAULTS[k] for k in SET)
    settings = Settings.from_env(SET)
    assert settings.to_env() == SET
    assert Settings.from_env(settings.to_env()) == settings


# The variables read before the settings were grouped by concern, in their order of then.
VARIABLES_BEFORE_GROUPING = [
    "TIKETI_DATA_DIR", "DATABASE_URL", "REDIS_URL", "TIKETI_PG_PORT", "TIKETI_REDIS_PORT",
    "RAY_ADDRESS", "TIKETI_RAY_NUM_CPUS", "TIKETI_NAMESPACE", "TIKETI_SHARDS_PER_EVENT",
    "TIKETI_SHARD_CPUS", "TIKETI_SHARD_LINK_HOST", "TIKETI_SNAPSHOT_EVERY_OPS",
    "TIKETI_SNAPSHOT_EVERY_S", "TIKETI_SWEEP_INTERVAL_S", "TIKETI_QUEUE_TICK_S",
    "TIKETI_QUEUE_PUBLISH_S", "TIKETI_DEMO_EVENT", "TIKETI_DEMO_OPENS_IN_S", "TIKETI_HTTP_HOST",
    "TIKETI_HTTP_PORT", "TIKETI_HA_PROXY", "TIKETI_METRICS_PORT", "TIKETI_HAPROXY_STATS_PORT",
    "TIKETI_ACCESS_LOG", "TIKETI_QUEUE_MAX_ONGOING", "TIKETI_AUTOSCALE",
    "TIKETI_AUTOSCALE_MIN_REPLICAS", "TIKETI_AUTOSCALE_MAX_REPLICAS",
    "TIKETI_AUTOSCALE_QUEUE_USERS", "TIKETI_AUTOSCALE_ADMITTED_USERS", "TIKETI_AUTOSCALE_REQUESTS",
    "TIKETI_AUTOSCALE_UPSCALE_DELAY_S", "TIKETI_AUTOSCALE_DOWNSCALE_DELAY_S",
    "TIKETI_AUTOSCALE_INTERVAL_S", "TIKETI_REPLICA_CPUS", "TIKETI_HOT_EVENTS",
    "TIKETI_HOT_USERS_PER_SEAT_SHARD", "TIKETI_HOT_MAX_SEAT_SHARDS", "TIKETI_HOT_RESHARD_LEAD_S",
    "TIKETI_REDIS_CLUSTER", "TIKETI_SERVE_REPLICAS", "TIKETI_JWT_PRIVATE_KEY",
    "TIKETI_JWT_PRIVATE_KEY_FILE", "TIKETI_RATE_LIMIT_PER_MIN", "TIKETI_TRUSTED_HOPS",
    "TIKETI_MAX_BODY_BYTES", "TIKETI_EVENT_CACHE_TTL_S", "TIKETI_SEATMAP_REFRESH_S",
    "TIKETI_ADMIN_EMAIL", "TIKETI_ADMIN_PASSWORD", "TIKETI_PAYMENT_GATEWAY_URL",
    "TIKETI_PAYMENT_SECRET_KEY", "TIKETI_PAYMENT_CLIENT_KEY", "TIKETI_FAKE_GATEWAY_PORT",
    "TIKETI_PAYMENT_TIMEOUT_S", "TIKETI_PAYMENT_RETRIES", "TIKETI_BREAKER_FAILURES",
    "TIKETI_BREAKER_RESET_S", "TIKETI_LOG_LEVEL", "TIKETI_PAYMENT_ANSWER_S", "TIKETI_SAGA_LEASE_S",
    "TIKETI_DB_ACQUIRE_TIMEOUT_S", "TIKETI_PAYMENTS_DB_POOL", "TIKETI_PAYMENTS_MAX_ONGOING",
]


def test_the_groups_read_exactly_the_variables_read_before() -> None:
    names = [name for name, _, _ in SETTINGS_DOC]
    assert len(names) == len(set(names)) == len(VARIABLES_BEFORE_GROUPING)
    assert set(names) == set(VARIABLES_BEFORE_GROUPING)


def test_a_group_is_built_or_changed_on_its_own() -> None:
    settings = Settings(payments=PaymentSettings(timeout_s=1.0))
    assert settings.payments.timeout_s == 1.0 and settings.payments.retries == 2
    assert settings.autoscale == AutoscaleSettings() and settings.namespace == "tiketi"
    env = settings.to_env()
    assert env["TIKETI_PAYMENT_TIMEOUT_S"] == "1.0"
    assert Settings.from_env(env) == settings

    wider = replace(settings, autoscale=replace(settings.autoscale, max_replicas=7))
    assert wider.autoscale.max_replicas == 7 and wider.payments == settings.payments
    assert settings.autoscale.max_replicas == 100
