"""The KubeRay manifests: the RayService is valid for KubeRay v1.7.0's CRD and uses no field the
CRD does not know; its Serve config is valid for Ray Serve and carries no secret; its pods land
on the node groups terraform/modules/eks makes for them; the GCS reaches its Redis over TLS; the
companions select the RayService's pods; and kuberay/rayservice.yaml is exactly a fresh
render."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hcl2.api import load as load_hcl
from ray._private.services import get_address
from ray.serve.schema import ServeDeploySchema

from api.catalog import SERVICES
from engine.actors.config import DATABASE_ENV, REDIS_ENV
from engine.serve.deploy import ha_proxy_environment, replica_env
from engine.serve.kuberay import (
    AMAZON_ROOT_CAS,
    GCS_REDIS_PASSWORD_KEY,
    HEAD_NODES,
    NODE_LABEL,
    PRODUCTION,
    REDIS_CA_CERT_ENV,
    SECRET_ENV,
    STORE_ENV,
    WORKER_NODES,
    amazon_root_cas,
    gcs_redis_tls,
    main,
    ray_env,
    render_rayservice,
    render_yaml,
)
from engine.settings import Settings
from tests.unit.test_terraform import NODE_OVERHEAD_VCPU, VCPUS, cpu, node_groups

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "kuberay" / "rayservice.yaml"
CRD = ROOT / "kuberay" / "crds" / "ray.io_rayservices.yaml"
EKS = ROOT / "terraform" / "modules" / "eks" / "main.tf"

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
    """The rendered objects by kind, and the ConfigMaps by name."""
    return {m["metadata"]["name"] if m["kind"] == "ConfigMap" else m["kind"]: m
            for m in render_rayservice(settings or Settings(), **kw)}


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


def _pod_specs(service: Json) -> dict[str, Json]:
    """The head's pod spec and every worker group's, by group name."""
    cluster = _cluster(service)
    specs = {"head": cluster["headGroupSpec"]["template"]["spec"]}
    for group in cluster["workerGroupSpecs"]:
        specs[group["groupName"]] = group["template"]["spec"]
    return specs


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
    assert config.http_options.port == settings.http.port


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


def _from_secret(container: Json) -> dict[str, str]:
    """The container's environment variables filled from a Secret: name -> secret/key."""
    return {e["name"]: f"{ref['name']}/{ref['key']}" for e in container.get("env", [])
            if (ref := e.get("valueFrom", {}).get("secretKeyRef"))}


def test_the_pods_take_every_secret_from_the_secret() -> None:
    service = manifests(secret="ticket-secrets")["RayService"]
    worker_env = {e["name"]: e for e in _ray_containers(service)["worker"]["env"]}
    for key in SECRET_ENV:
        assert worker_env[key] == {"name": key, "valueFrom": {"secretKeyRef": {
            "name": "ticket-secrets", "key": key}}}
    head = _cluster(service)["headGroupSpec"]["template"]["spec"]
    (migrate,) = head["initContainers"]
    assert migrate["command"] == ["tiketi", "migrate"]
    assert _from_secret(migrate) == {"DATABASE_URL": "ticket-secrets/DATABASE_URL",
                                     "REDIS_URL": "ticket-secrets/REDIS_URL"}
    # The head hosts no replica: it needs the store URLs, not the signing or payment keys.
    assert set(_from_secret(_ray_containers(service)["head"])) == {"DATABASE_URL", "REDIS_URL"}


def test_every_ray_pod_has_the_store_urls_shards_read_from_their_environment() -> None:
    """A shard gets no store URL from its creator when the creator has it in its environment
    (Ray would keep it in the GCS, persisted in the GCS Redis): wherever Ray may run a shard or
    a driver that creates one, the pod has both URLs from the Secret."""
    assert STORE_ENV == (DATABASE_ENV, REDIS_ENV)
    service = manifests(secret="ticket-secrets")["RayService"]
    specs = _pod_specs(service)
    assert len(specs) == 1 + len(_cluster(service)["workerGroupSpecs"])
    for role, spec in specs.items():
        ray_container = spec["containers"][0]
        env = _from_secret(ray_container)
        for key in STORE_ENV:
            assert env.get(key) == f"ticket-secrets/{key}", role
        assert not {e["name"] for e in ray_container["env"] if "value" in e} & set(STORE_ENV)


def test_gcs_fault_tolerance_uses_the_external_redis_and_the_secret_password() -> None:
    cluster = _cluster(manifests(gcs_redis="gcs.redis.internal:6379")["RayService"])
    assert cluster["gcsFaultToleranceOptions"] == {
        "redisAddress": "gcs.redis.internal:6379",
        "redisPassword": {"valueFrom": {"secretKeyRef": {
            "name": "tiketi-secrets", "key": GCS_REDIS_PASSWORD_KEY}}},
    }


# --- the GCS Redis over TLS -----------------------------------------------------------------


def test_ray_turns_tls_on_for_a_rediss_address_and_reads_the_ca_from_the_env_named() -> None:
    assert get_address("rediss://gcs.internal:6379") == ("gcs.internal", "6379", True)
    assert get_address("gcs.internal:6379")[2] is False
    # RayConfig reads its entries from RAY_<name> when the process starts: a fresh one.
    probe = "from ray._raylet import Config; print(Config.REDIS_CA_CERT().decode())"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**os.environ, REDIS_CA_CERT_ENV: "/etc/ca/probe.crt"},
                            timeout=120, check=True)
    assert result.stdout.strip() == "/etc/ca/probe.crt"


def test_the_production_gcs_redis_is_tls_with_the_ca_mounted_in_the_head(
        crd_schema: Json) -> None:
    rendered = manifests(PRODUCTION)
    service = rendered["RayService"]
    assert crd_errors(crd_schema, service) == []
    cluster = _cluster(service)
    assert cluster["gcsFaultToleranceOptions"]["redisAddress"] == "rediss://tiketi-gcs-redis:6379"
    head = _pod_specs(service)["head"]
    container = head["containers"][0]
    ca_file = {e["name"]: e.get("value") for e in container["env"]}[REDIS_CA_CERT_ENV]
    (mount,) = container["volumeMounts"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in head["volumes"] if v["name"] == mount["name"]]
    config_map = rendered[volume["configMap"]["name"]]
    assert config_map["metadata"]["name"] == "tiketi-gcs-redis-ca"
    (key,) = config_map["data"]
    assert ca_file == f"{mount['mountPath']}/{key}"
    assert config_map["data"][key] == amazon_root_cas()
    for role, spec in _pod_specs(service).items():
        if role != "head":  # the workers never talk to the GCS Redis
            assert "volumes" not in spec
            assert REDIS_CA_CERT_ENV not in {e["name"] for e in spec["containers"][0]["env"]}


def test_the_ca_bundle_is_amazons_four_roots_and_loads_as_openssl_reads_it(
        tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text(amazon_root_cas())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=bundle)  # hiredis loads the file the same way
    subjects = {dict(item[0] for item in cert["subject"])["commonName"]
                for cert in context.get_ca_certs()}
    assert subjects == set(AMAZON_ROOT_CAS)


def test_a_plain_gcs_redis_gets_no_ca_and_bad_addresses_are_refused() -> None:
    rendered = manifests(gcs_redis="redis://gcs.internal:6379")
    assert not [m for m in rendered.values() if "gcs-redis-ca" in m["metadata"]["name"]]
    head = _pod_specs(rendered["RayService"])["head"]
    assert "volumes" not in head
    assert REDIS_CA_CERT_ENV not in {e["name"] for e in head["containers"][0]["env"]}
    assert gcs_redis_tls("rediss://gcs.internal:6379") is True
    assert gcs_redis_tls("gcs.internal:6379") is False
    for bad in ("gcs.internal", "rediss://:pw@gcs.internal:6379", "https://gcs.internal:6379",
                "rediss://gcs.internal:6379/0", "rediss://gcs.internal:port"):
        with pytest.raises(ValueError, match="GCS Redis address"):
            render_rayservice(Settings(), gcs_redis=bad)


def test_the_ca_config_map_can_be_renamed_and_refilled(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pem = tmp_path / "private-ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n")
    assert main(["render", "--defaults", "--gcs-redis", "rediss://redis.example:6380",
                 "--gcs-redis-ca", "corp-ca", "--gcs-redis-ca-file", str(pem)]) == 0
    docs = {f"{d['kind']}/{d['metadata']['name']}": d
            for d in yaml.safe_load_all(capsys.readouterr().out)}
    assert docs["ConfigMap/corp-ca"]["data"] == {"ca.crt": pem.read_text()}
    service = docs["RayService/tiketi"]
    head = _pod_specs(service)["head"]
    assert head["volumes"] == [{"name": "gcs-redis-ca", "configMap": {"name": "corp-ca"}}]
    assert _cluster(service)["gcsFaultToleranceOptions"]["redisAddress"] == (
        "rediss://redis.example:6380")
    assert main(["render", "--defaults", "--gcs-redis", "rediss://:pw@redis.example:6380"]) == 2
    assert "GCS Redis address" in capsys.readouterr().err


# --- where the pods run: the EKS node groups ------------------------------------------------

K8S_EFFECT = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute",
              "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def eks_nodes() -> dict[str, Json]:
    """Each node group of terraform/modules/eks/main.tf with the Kubernetes labels and taints
    its nodes get, evaluated from the parsed HCL for each key of `local.node_groups`."""
    with EKS.open() as f:
        parsed = load_hcl(f)
    groups: Json = next(item["node_groups"] for item in parsed["locals"]
                        if "node_groups" in item)
    (resource,) = [r["aws_eks_node_group"]["this"] for r in parsed["resource"]
                   if "aws_eks_node_group" in r]
    assert resource["for_each"] == "${local.node_groups}"
    (dynamic,) = resource["dynamic"]
    taint = dynamic["taint"]
    assert taint["for_each"] == "${each.value.taints}"
    assert taint["content"] == [{f: f"${{taint.value.{f}}}" for f in ("key", "value", "effect")}]
    nodes = {}
    for group, body in groups.items():
        labels = {}
        for key, expr in resource["labels"].items():
            if m := re.fullmatch(r'\$\{trimprefix\(each\.key, "([^"]*)"\)\}', expr):
                labels[key] = group.removeprefix(m.group(1))
            else:
                assert "${" not in expr, f"cannot evaluate the label {key} = {expr}"
                labels[key] = expr
        taints = [{**t, "effect": K8S_EFFECT[t["effect"]]} for t in body["taints"]]
        nodes[group] = {"labels": labels, "taints": taints}
    return nodes


def _tolerates(tolerations: list[Json], taint: Json) -> bool:
    for t in tolerations:
        if t.get("effect") not in (None, "", taint["effect"]):
            continue
        if t.get("operator", "Equal") == "Exists":
            if t.get("key") in (None, "", taint["key"]):
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint["value"]:
            return True
    return False


def _schedulable(spec: Json, node: Json) -> bool:
    """What the Kubernetes scheduler decides from the pod's nodeSelector and tolerations."""
    selected = all(node["labels"].get(k) == v for k, v in spec.get("nodeSelector", {}).items())
    return selected and all(_tolerates(spec.get("tolerations", []), taint)
                            for taint in node["taints"]
                            if taint["effect"] in ("NoSchedule", "NoExecute"))


def test_the_head_runs_on_the_head_nodes_and_the_workers_on_the_worker_nodes() -> None:
    nodes = eks_nodes()
    assert set(nodes) == {"ray-head", "ray-workers"}
    assert nodes["ray-head"]["labels"] == {NODE_LABEL: HEAD_NODES}
    assert nodes["ray-head"]["taints"] == [
        {"key": NODE_LABEL, "value": HEAD_NODES, "effect": "NoSchedule"}]
    assert nodes["ray-workers"] == {"labels": {NODE_LABEL: WORKER_NODES}, "taints": []}
    for service in (manifests()["RayService"], manifests(PRODUCTION)["RayService"]):
        for role, spec in _pod_specs(service).items():
            where = {group for group, node in nodes.items() if _schedulable(spec, node)}
            assert where == {"ray-head" if role == "head" else "ray-workers"}, role


def test_two_heads_fit_on_the_head_node_while_an_upgrade_runs_a_new_cluster() -> None:
    """`upgradeStrategy: NewCluster` starts the new cluster's head beside the old one, and
    the head's node group has one node."""
    service = manifests(PRODUCTION)["RayService"]
    cluster = _cluster(service)
    assert service["spec"]["upgradeStrategy"] == {"type": "NewCluster"}
    head = cluster["headGroupSpec"]["template"]["spec"]
    one = sum(cpu(c["resources"]["requests"]["cpu"]) for c in head["containers"])
    one += cpu(cluster["autoscalerOptions"]["resources"]["requests"]["cpu"])
    group = node_groups()["ray-head"]
    usable = VCPUS[group["types"][0]] - NODE_OVERHEAD_VCPU
    assert math.floor(usable / one) * group["max"] >= 2, (
        f"two heads of {one} vCPU each, {usable} vCPU on each of {group['max']} head nodes")


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
        assert ports["serve"] == settings.http.port
        assert ports["metrics"] == 8080 and ports["haproxy-metrics"] == settings.http.metrics_port
    worker = _ray_containers(manifests(settings)["RayService"])["worker"]
    assert f"localhost:{settings.http.port}/-/healthz" in worker["readinessProbe"]["exec"][
        "command"][-1]


# --- the companions -------------------------------------------------------------------------


def test_every_manifest_names_its_kind_and_the_namespace_and_image_given() -> None:
    rendered = render_rayservice(Settings(), image="registry.example/tiketi:1.2",
                                 namespace="ticketing")
    assert [(m["apiVersion"], m["kind"]) for m in rendered] == [
        ("ray.io/v1", "RayService"), ("policy/v1", "PodDisruptionBudget"),
        ("monitoring.coreos.com/v1", "PodMonitor"), ("v1", "ConfigMap"), ("v1", "ConfigMap")]
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
    config_map = manifests()["tiketi-grafana-dashboard"]
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


# --- what Ray's autoscaler provisions by ----------------------------------------------------


def _deployments(service: Json) -> dict[str, Json]:
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    return {a["name"]: a["deployments"][0] for a in config["applications"]}


def test_in_production_every_replica_and_shard_asks_one_cpu() -> None:
    service = manifests(PRODUCTION)["RayService"]
    deployments = _deployments(service)
    assert set(deployments) == {s.name for s in SERVICES}
    for name, deployment in deployments.items():
        assert deployment["ray_actor_options"] == {"num_cpus": 1.0}, name
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    for app in config["applications"]:  # the replicas create shards with these settings
        assert app["args"]["env"]["TIKETI_SHARD_CPUS"] == "1.0"
        assert app["args"]["env"]["TIKETI_REPLICA_CPUS"] == "1.0"


def test_a_worker_offers_ray_the_cpus_of_its_pod() -> None:
    cluster = _cluster(manifests(PRODUCTION)["RayService"])
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for group in cluster["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        limit = container["resources"]["limits"]["cpu"]
        assert cpu(group["rayStartParams"]["num-cpus"]) == cpu(limit)


def test_the_production_replicas_fit_the_worker_group_from_floor_to_ceiling() -> None:
    """Every replica's CPU ask: at the autoscaled deployments' minimum the group's minimum pods
    hold them all, and at their maximum its maximum pods hold them with room for shards."""
    service = manifests(PRODUCTION)["RayService"]
    (group,) = _cluster(service)["workerGroupSpecs"]
    per_pod = cpu(group["rayStartParams"]["num-cpus"])
    floor = ceiling = 0.0
    for deployment in _deployments(service).values():
        ask = deployment["ray_actor_options"]["num_cpus"]
        assert ask <= per_pod
        bounds = deployment.get("autoscaling_config")
        low = bounds["min_replicas"] if bounds else deployment["num_replicas"]
        high = bounds["max_replicas"] if bounds else deployment["num_replicas"]
        floor += low * ask
        ceiling += high * ask
    assert (floor, ceiling) == (13, 207)  # the figures kuberay/README.md reasons with
    assert floor <= group["minReplicas"] * per_pod
    shards_of_an_event = (PRODUCTION.shards.per_event + 1) * PRODUCTION.shards.cpus
    assert ceiling + 10 * shards_of_an_event <= group["maxReplicas"] * per_pod
