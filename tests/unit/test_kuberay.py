"""The KubeRay manifests: the RayService is valid for KubeRay v1.7.0's CRD and uses no field the
CRD does not know; its Serve config is valid for Ray Serve and carries no secret; the companions
select the RayService's pods; and kuberay/rayservice.yaml is exactly a fresh render."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from api.catalog import SERVICES
from engine.serve.deploy import ha_proxy_environment, replica_env
from engine.serve.kuberay import (
    GCS_REDIS_PASSWORD_KEY,
    PRODUCTION,
    SECRET_ENV,
    main,
    ray_env,
    render_rayservice,
    render_yaml,
)
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "kuberay" / "rayservice.yaml"
CRD = ROOT / "kuberay" / "crds" / "ray.io_rayservices.yaml"

Json = dict[str, Any]

FAKE_SECRETS = {
    "DATABASE_URL": "postgresql://tiketi:db-pw-0451@db.internal:5432/tiketi",
    "REDIS_URL": "redis://:redis-pw-8823@redis.internal:6379/0",
    "TIKETI_JWT_PRIVATE_KEY":
        "-----BEGIN PRIVATE KEY-----\nMIIfakejwt0917\n-----END PRIVATE KEY-----",
    "TIKETI_PAYMENT_SECRET_KEY": "test_sk_fake_payment_3310",
    "TIKETI_ADMIN_PASSWORD": "admin-pw-7765",
    "TIKETI_JWT_PRIVATE_KEY_FILE": "/srv/keys/jwt-private.pem",
}


# --- validating against the CRD -------------------------------------------------------------


@pytest.fixture(scope="module")
def crd_schema() -> Json:
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: Json = version["schema"]["openAPIV3Schema"]
    return schema


def fill_defaults(schema: Json, value: Any) -> None:
    """What the API server does before validating: every absent property with a `default`
    gets it, inside the objects that are present."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                fill_defaults(properties[key], item)
            elif isinstance(extra, dict):
                fill_defaults(extra, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            fill_defaults(schema["items"], item)


def strict(schema: Json) -> Json:
    """The schema with `additionalProperties: false` wherever it lists `properties` and does not
    keep unknown fields, so a misspelt or invented field name is an error, not ignored."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
        if ("additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [strict(s) for s in out[key]]
    return out


def crd_errors(schema: Json, manifest: Json) -> list[str]:
    instance = copy.deepcopy(manifest)
    fill_defaults(schema, instance)
    validator = jsonschema.Draft202012Validator(strict(schema))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(instance)]


def manifests(settings: Settings | None = None, **kw: Any) -> dict[str, Json]:
    return {m["kind"]: m for m in render_rayservice(settings or Settings(), **kw)}


def test_the_rayservice_is_valid_for_the_crd_with_known_field_names_only(
        crd_schema: Json) -> None:
    assert crd_errors(crd_schema, manifests()["RayService"]) == []


def test_the_strict_check_catches_a_misspelt_field_the_plain_schema_ignores(
        crd_schema: Json) -> None:
    service = manifests()["RayService"]
    cluster = service["spec"]["rayClusterConfig"]
    cluster["enableInTreeAutoscalling"] = True
    cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    jsonschema.Draft202012Validator(crd_schema).validate(service)  # unknown names pass here
    errors = crd_errors(crd_schema, service)
    assert len(errors) == 2
    assert any("enableInTreeAutoscalling" in e for e in errors)
    assert any("readinessProbes" in e for e in errors)


def test_server_defaults_are_filled_before_validation(crd_schema: Json) -> None:
    service = manifests()["RayService"]
    fill_defaults(crd_schema, service)
    group = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    assert group["numOfHosts"] == 1
    assert group["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"


# --- the RayService -------------------------------------------------------------------------


def _cluster(service: Json) -> Json:
    cluster: Json = service["spec"]["rayClusterConfig"]
    return cluster


def _ray_containers(service: Json) -> dict[str, Json]:
    cluster = _cluster(service)
    return {
        "head": cluster["headGroupSpec"]["template"]["spec"]["containers"][0],
        "worker": cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0],
    }


def _pod_labels(service: Json) -> dict[str, dict[str, str]]:
    """The pods' labels: the templates' plus those KubeRay adds to every Ray pod."""
    cluster = _cluster(service)
    group = cluster["workerGroupSpecs"][0]
    return {
        "head": {**cluster["headGroupSpec"]["template"]["metadata"]["labels"],
                 "ray.io/node-type": "head", "ray.io/group": "headgroup"},
        "worker": {**group["template"]["metadata"]["labels"],
                   "ray.io/node-type": "worker", "ray.io/group": group["groupName"]},
    }


def _selects(selector: Json, labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_the_serve_config_is_the_one_make_up_deploys_without_secrets() -> None:
    settings = Settings.from_env({**FAKE_SECRETS, "TIKETI_SERVE_REPLICAS": "queue=3"})
    service = manifests(settings)["RayService"]
    config = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    apps = {a.name: a for a in config.applications}
    assert set(apps) == {s.name for s in SERVICES}
    assert apps["queue"].deployments[0].num_replicas == 3
    expected = {k: v for k, v in replica_env(settings).items()
                if k not in (*SECRET_ENV, "TIKETI_JWT_PRIVATE_KEY_FILE")}
    for app in config.applications:
        assert app.args["env"] == expected
    assert config.http_options.port == settings.http_port


def test_the_production_serve_config_with_autoscaling_is_valid(crd_schema: Json) -> None:
    settings = Settings.from_env({"TIKETI_AUTOSCALE": "1", "TIKETI_QUEUE_MAX_ONGOING": "12000"})
    service = manifests(settings)["RayService"]
    assert crd_errors(crd_schema, service) == []
    config = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    queue = next(a for a in config.applications if a.name == "queue").deployments[0]
    assert queue.autoscaling_config is not None
    assert queue.max_ongoing_requests == 12000


def test_no_secret_value_appears_in_any_manifest() -> None:
    text = render_yaml(Settings.from_env(FAKE_SECRETS))
    for name, value in FAKE_SECRETS.items():
        assert value not in text, name
    for fragment in ("db-pw-0451", "redis-pw-8823", "MIIfakejwt0917", "test_sk_fake_payment",
                     "admin-pw-7765", "/srv/keys"):
        assert fragment not in text


def test_the_pods_take_every_secret_from_the_secret() -> None:
    service = manifests(secret="ticket-secrets")["RayService"]
    worker_env = {e["name"]: e for e in _ray_containers(service)["worker"]["env"]}
    for key in SECRET_ENV:
        assert worker_env[key] == {"name": key, "valueFrom": {"secretKeyRef": {
            "name": "ticket-secrets", "key": key}}}
    head = _cluster(service)["headGroupSpec"]["template"]["spec"]
    (migrate,) = head["initContainers"]
    assert migrate["command"] == ["tiketi", "migrate"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in migrate["env"]} == {
        "DATABASE_URL": "DATABASE_URL", "REDIS_URL": "REDIS_URL"}
    assert not any(e["name"] in SECRET_ENV for e in _ray_containers(service)["head"]["env"])


def test_gcs_fault_tolerance_uses_the_external_redis_and_the_secret_password() -> None:
    cluster = _cluster(manifests(gcs_redis="gcs.redis.internal:6379")["RayService"])
    assert cluster["gcsFaultToleranceOptions"] == {
        "redisAddress": "gcs.redis.internal:6379",
        "redisPassword": {"valueFrom": {"secretKeyRef": {
            "name": "tiketi-secrets", "key": GCS_REDIS_PASSWORD_KEY}}},
    }


def test_the_in_tree_autoscaler_scales_the_worker_group() -> None:
    cluster = _cluster(manifests(min_workers=2, max_workers=40)["RayService"])
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["autoscalerOptions"]["version"] == "v2"
    (group,) = cluster["workerGroupSpecs"]
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (2, 2, 40)
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    with pytest.raises(ValueError, match="min_workers"):
        render_rayservice(Settings(), min_workers=5, max_workers=4)


def test_the_pods_run_serve_in_high_throughput_mode_as_make_up_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    for name in ray_env(settings):
        monkeypatch.setenv(name, "unset")  # restored after the test
    ha_proxy_environment(settings)
    expected = {k: v for k, v in ray_env(settings).items() if os.environ[k] != "unset"}
    assert expected == {k: os.environ[k] for k in expected}
    assert {"RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_THROUGHPUT_OPTIMIZED"} <= set(expected)
    for container in _ray_containers(manifests(settings)["RayService"]).values():
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert {k: env[k] for k in ray_env(settings)} == ray_env(settings)
        assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"


def test_every_ray_container_has_probes_resources_and_the_ports_scraped() -> None:
    settings = Settings()
    for role, container in _ray_containers(manifests(settings)["RayService"]).items():
        resources = container["resources"]
        assert resources["requests"] == resources["limits"], role
        assert set(resources["limits"]) == {"cpu", "memory"}
        assert container["livenessProbe"] and container["readinessProbe"], role
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["serve"] == settings.http_port
        assert ports["metrics"] == 8080 and ports["haproxy-metrics"] == settings.metrics_port
    worker = _ray_containers(manifests(settings)["RayService"])["worker"]
    assert f"localhost:{settings.http_port}/-/healthz" in worker["readinessProbe"]["exec"][
        "command"][-1]


# --- the companions -------------------------------------------------------------------------


def test_every_manifest_names_its_kind_and_the_namespace_and_image_given() -> None:
    rendered = render_rayservice(Settings(), image="registry.example/tiketi:1.2",
                                 namespace="ticketing")
    assert [(m["apiVersion"], m["kind"]) for m in rendered] == [
        ("ray.io/v1", "RayService"), ("policy/v1", "PodDisruptionBudget"),
        ("monitoring.coreos.com/v1", "PodMonitor"), ("v1", "ConfigMap")]
    for manifest in rendered:
        assert manifest["metadata"]["name"] and manifest["metadata"]["namespace"] == "ticketing"
    service = rendered[0]
    head = _cluster(service)["headGroupSpec"]["template"]["spec"]
    images = {c["image"] for c in _ray_containers(service).values()}
    images |= {c["image"] for c in head["initContainers"]}
    assert images == {"registry.example/tiketi:1.2"}


def test_the_disruption_budget_covers_the_workers_only() -> None:
    rendered = manifests()
    pods = _pod_labels(rendered["RayService"])
    budget = rendered["PodDisruptionBudget"]["spec"]
    assert budget["maxUnavailable"] == 1
    assert _selects(budget["selector"], pods["worker"])
    assert not _selects(budget["selector"], pods["head"])
    spread = _cluster(rendered["RayService"])["workerGroupSpecs"][0]["template"]["spec"][
        "topologySpreadConstraints"][0]
    assert _selects(spread["labelSelector"], pods["worker"])


def test_the_pod_monitor_scrapes_ray_and_haproxy_on_every_pod() -> None:
    rendered = manifests()
    pods = _pod_labels(rendered["RayService"])
    monitor = rendered["PodMonitor"]["spec"]
    assert _selects(monitor["selector"], pods["head"])
    assert _selects(monitor["selector"], pods["worker"])
    scraped = {e["port"] for e in monitor["podMetricsEndpoints"]}
    assert scraped == {"metrics", "haproxy-metrics"}
    for container in _ray_containers(rendered["RayService"]).values():
        assert scraped <= {p["name"] for p in container["ports"]}


def test_the_dashboard_charts_the_engine_and_serve_metrics() -> None:
    config_map = manifests()["ConfigMap"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = config_map["data"].values()
    dashboard = json.loads(text)
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("ray_tiketi_queue_length", "ray_tiketi_admitted_total", "ray_tiketi_holds",
                   "ray_tiketi_sold_total", "ray_serve_http_request_latency_ms_bucket",
                   "ray_serve_deployment_replica_healthy"):
        assert metric in exprs
    assert "histogram_quantile(0.99" in exprs
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


# --- the committed rendering and the command ------------------------------------------------


def test_the_committed_manifests_are_a_fresh_render() -> None:
    assert COMMITTED.read_text() == render_yaml(PRODUCTION), (
        "kuberay/rayservice.yaml is stale: regenerate it with "
        "`python -m engine.serve.kuberay render --defaults -o kuberay/rayservice.yaml`")


def test_the_command_writes_the_rendering(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rayservice.yaml"
    assert main(["render", "--defaults", "-o", str(out), "--namespace", "ticketing",
                 "--image", "registry.example/tiketi:2"]) == 0
    assert out.read_text() == render_yaml(PRODUCTION, namespace="ticketing",
                                          image="registry.example/tiketi:2")
    assert capsys.readouterr().out == f"wrote {out}\n"


def test_the_command_renders_the_environment_settings(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TIKETI_QUEUE_MAX_ONGOING", "12000")
    monkeypatch.setenv("DATABASE_URL", FAKE_SECRETS["DATABASE_URL"])
    assert main(["render"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    config = yaml.safe_load(docs[0]["spec"]["serveConfigV2"])
    queue = next(a for a in config["applications"] if a["name"] == "queue")
    assert queue["deployments"][0]["max_ongoing_requests"] == 12000
    assert "db-pw-0451" not in json.dumps(docs)


def test_a_cluster_autoscales_the_queue_and_reservation_deployments_on_the_lines() -> None:
    (service, *_) = render_rayservice(PRODUCTION)
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    deployments = {a["name"]: a["deployments"][0] for a in config["applications"]}
    queue = deployments["queue"]["autoscaling_config"]
    assert (queue["min_replicas"], queue["max_replicas"]) == (3, 100)
    assert queue["policy"]["policy_function"].endswith(":LinePolicy")
    assert queue["policy"]["policy_kwargs"]["users_per_replica"] == 10_000  # the seed's figure
    seats = deployments["seats"]["autoscaling_config"]["policy"]
    assert seats["policy_kwargs"]["metric"] == "active_users"
    assert deployments["queue"]["max_ongoing_requests"] >= 10_000  # a socket per waiting user
