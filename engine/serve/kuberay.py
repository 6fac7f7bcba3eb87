"""The engine on Kubernetes with KubeRay: a RayService whose `serveConfigV2` is the Serve config
`make up` deploys (`engine.serve.config`), a PodDisruptionBudget, a PodMonitor and a Grafana
dashboard. `tiketi kuberay render` writes them; `kuberay/rayservice.yaml` is the rendering of
the default settings, and `kuberay/README.md` explains the sizes chosen here.

Secrets never enter the manifests: the Serve config carries the settings without them, and the
pods read them from one Kubernetes Secret (`valueFrom.secretKeyRef`), as the seed asks
(environment variables, no secret volumes). The one volume is public: the CA certificates the
GCS trusts for its Redis over TLS, in a ConfigMap the render writes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

import certifi
import yaml

from engine.actors.config import DATABASE_ENV, REDIS_ENV
from engine.serve.config import serve_config_yaml
from engine.serve.deploy import ha_proxy_env, replica_env
from engine.settings import (
    AutoscaleSettings,
    HotEventSettings,
    HttpSettings,
    Settings,
    SettingsError,
    ShardSettings,
)

Manifest = dict[str, Any]

RAY_VERSION = version("ray")
DEFAULT_NAME = "tiketi"
DEFAULT_NAMESPACE = "tiketi"
DEFAULT_IMAGE = f"tiketi-engine:{version('tiketi-engine')}"
DEFAULT_SECRET = "tiketi-secrets"  # noqa: S105 - the Secret's name
# The ExternalName Service terraform/modules/kubernetes makes for the GCS ElastiCache group.
DEFAULT_GCS_REDIS = "rediss://tiketi-gcs-redis:6379"
DEFAULT_PROMETHEUS_RELEASE = "prometheus"

# Keys of the Secret, each the name of the environment variable it fills.
SECRET_ENV = (DATABASE_ENV, REDIS_ENV, "TIKETI_JWT_PRIVATE_KEY", "TIKETI_PAYMENT_SECRET_KEY")
# What every Ray pod reads from the Secret, the head's too: a shard (or a driver on the head)
# takes the store URLs from its own environment, so Ray never holds them (engine.actors.config).
STORE_ENV = (DATABASE_ENV, REDIS_ENV)
GCS_REDIS_PASSWORD_KEY = "GCS_REDIS_PASSWORD"  # noqa: S105 - a key in the Secret
# Settings that name a file on the machine that rendered them; a pod gets the key from the Secret.
LOCAL_ONLY_ENV = ("TIKETI_JWT_PRIVATE_KEY_FILE",)

RAY_METRICS_PORT = 8080
DASHBOARD_AGENT_PORT = 52365
WORKER_GROUP = "workers"

# The EKS node groups (terraform/modules/eks): the head's nodes carry this label and a
# NoSchedule taint of the same key and value; the workers' nodes the label only.
NODE_LABEL = "tiketi.io/ray-node"
HEAD_NODES = "head"
WORKER_NODES = "workers"

# Ray's GCS reads the CA file of its Redis' TLS from RAY_REDIS_CA_CERT (RayConfig
# `REDIS_CA_CERT`); a `rediss://` address turns TLS on (`--redis_enable_ssl`).
REDIS_CA_CERT_ENV = "RAY_REDIS_CA_CERT"
GCS_REDIS_CA_KEY = "ca.crt"
GCS_REDIS_CA_DIR = "/etc/tiketi/gcs-redis-ca"
# What ElastiCache's certificates (issued by Amazon) chain to, whatever their key type.
AMAZON_ROOT_CAS = tuple(f"Amazon Root CA {n}" for n in (1, 2, 3, 4))


@dataclass(frozen=True)
class PodSize:
    cpu: str
    memory: str

    def resources(self) -> Manifest:
        """Requests equal to limits: Ray counts the pod's CPUs from them, and Kubernetes then
        gives the pod the Guaranteed class (never the first to be evicted)."""
        amount = {"cpu": self.cpu, "memory": self.memory}
        return {"requests": dict(amount), "limits": dict(amount)}


# From the seed's resource table (section 8), where every service's limit is 1 GiB per CPU and
# the largest is Reservation's 4 CPU / 4 GiB. A worker is one such unit for the Serve replicas
# and shards it hosts (one CPU each in production), plus 1 GiB of object store and 3 GiB for
# Ray's own per-node processes (raylet, dashboard agent, HAProxy with its connections). The head
# runs no replicas (`num-cpus: 0`): GCS, dashboard, Serve controller, and the autoscaler in its
# own container; 3 CPU, so that two heads fit on the head node while an upgrade runs a new
# cluster beside the old one.
HEAD = PodSize("3", "8Gi")
WORKER = PodSize("4", "8Gi")
AUTOSCALER = PodSize("500m", "512Mi")
MIGRATE = PodSize("500m", "512Mi")
WORKER_OBJECT_STORE_BYTES = 1 << 30
# Four workers at least: the production floor asks 13 CPUs (3 + 3 replicas of the autoscaled
# deployments, one of each other), and the pods spread over the zones; 120 at most: the
# capacity plan's 96 at the seed's peak, plus a quarter (kuberay/README.md).
MIN_WORKERS = 4
MAX_WORKERS = 120
# Connections a pod's HAProxy holds: 1,000,000 WebSockets over the plan's 96 workers is about
# 10,400 each; four times that covers a smaller cluster. Each needs 2.5 file descriptors.
HAPROXY_MAXCONN = 40_000


def render_rayservice(
    settings: Settings,
    *,
    image: str = DEFAULT_IMAGE,
    namespace: str = DEFAULT_NAMESPACE,
    name: str = DEFAULT_NAME,
    secret: str = DEFAULT_SECRET,
    gcs_redis: str = DEFAULT_GCS_REDIS,
    gcs_redis_ca: str | None = None,
    gcs_redis_ca_pem: str | None = None,
    min_workers: int = MIN_WORKERS,
    max_workers: int = MAX_WORKERS,
    prometheus_release: str = DEFAULT_PROMETHEUS_RELEASE,
) -> list[Manifest]:
    """The RayService, its PodDisruptionBudget, PodMonitor and Grafana dashboard; and, when the
    GCS Redis speaks TLS (`rediss://`), the ConfigMap `gcs_redis_ca` (default
    `<name>-gcs-redis-ca`) of the CA certificates it trusts (default: Amazon's root CAs)."""
    if not 0 <= min_workers <= max_workers:
        raise ValueError("need 0 <= min_workers <= max_workers")
    ca = None
    if gcs_redis_tls(gcs_redis):
        ca = gcs_redis_ca or f"{name}-gcs-redis-ca"
    manifests = [
        _rayservice(settings, image=image, namespace=namespace, name=name, secret=secret,
                    gcs_redis=gcs_redis, gcs_redis_ca=ca, workers=(min_workers, max_workers)),
        _disruption_budget(namespace, name),
        _pod_monitor(namespace, name, prometheus_release),
        _dashboard_config_map(namespace, name),
    ]
    if ca is not None:
        pem = amazon_root_cas() if gcs_redis_ca_pem is None else gcs_redis_ca_pem
        manifests.append(_ca_config_map(namespace, name, ca, pem))
    return manifests


def gcs_redis_tls(address: str) -> bool:
    """Whether a GCS Redis address asks for TLS, as Ray reads it: `host:port`,
    `redis://host:port` or `rediss://host:port` (TLS). The password stays in the Secret."""
    url = urlsplit(address if "://" in address else f"redis://{address}")
    try:
        port = url.port
    except ValueError:
        port = None
    if (url.scheme not in ("redis", "rediss") or not url.hostname or port is None
            or url.username is not None or url.password is not None
            or url.path or url.query or url.fragment):
        raise ValueError(f"GCS Redis address {address!r}: expected host:port, "
                         "redis://host:port or rediss://host:port (the password is in the Secret)")
    return url.scheme == "rediss"


def amazon_root_cas() -> str:
    """Amazon Root CA 1 to 4 (PEM) from certifi's copy of Mozilla's trust store."""
    blocks = certifi.contents().split("\n\n")
    found: dict[str, str] = {}
    for label in AMAZON_ROOT_CAS:
        block = next((b for b in blocks if f'# Label: "{label}"' in b), None)
        if block is None:
            raise LookupError(f"{label} is not in certifi's trust store")
        found[label] = block[block.index("-----BEGIN CERTIFICATE-----"):].strip()
    return "".join(f"# {label}\n{pem}\n" for label, pem in found.items())


def render_yaml(settings: Settings, **kw: Any) -> str:
    """The manifests as one multi-document YAML file."""
    manifests = render_rayservice(settings, **kw)
    docs = [yaml.dump(m, Dumper=_Dumper, sort_keys=False) for m in manifests]
    header = "# Generated by `tiketi kuberay render` (engine/serve/kuberay.py). Do not edit.\n"
    return header + "---\n".join(docs)


def pod_labels(name: str) -> dict[str, str]:
    """Labels of every pod of the RayService (KubeRay adds its `ray.io/*` labels to these)."""
    return {"app.kubernetes.io/part-of": "tiketi", "app.kubernetes.io/instance": name}


def serve_env(settings: Settings) -> dict[str, str]:
    """The settings the Serve config carries to the replicas: `replica_env` without what the
    pods take from the Secret (an application's env would override the pod's own)."""
    env = replica_env(settings)
    for key in (*SECRET_ENV, *LOCAL_ONLY_ENV):
        env.pop(key, None)
    return env


def ray_env(settings: Settings, *, haproxy_maxconn: int = HAPROXY_MAXCONN) -> dict[str, str]:
    """What `deploy.ha_proxy_environment` sets before Ray starts locally, for the pods."""
    return {**ha_proxy_env(settings), "RAY_SERVE_HAPROXY_MAXCONN": str(haproxy_maxconn)}


def _rayservice(settings: Settings, *, image: str, namespace: str, name: str, secret: str,
                gcs_redis: str, gcs_redis_ca: str | None, workers: tuple[int, int]) -> Manifest:
    head_start = {"num-cpus": "0", "metrics-export-port": str(RAY_METRICS_PORT),
                  "dashboard-agent-listen-port": str(DASHBOARD_AGENT_PORT)}
    # Ray's CPUs are the pod's: four one-CPU replicas or shards per worker.
    worker_start = {"num-cpus": WORKER.cpu, "metrics-export-port": str(RAY_METRICS_PORT),
                    "dashboard-agent-listen-port": str(DASHBOARD_AGENT_PORT),
                    "object-store-memory": str(WORKER_OBJECT_STORE_BYTES)}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": name, "namespace": namespace, "labels": pod_labels(name)},
        "spec": {
            "serveConfigV2": serve_config_yaml(settings, serve_env(settings)),
            "upgradeStrategy": {"type": "NewCluster"},
            # Traffic goes to the workers' HAProxies only: a head restart never drops requests.
            "excludeHeadPodFromServeSvc": True,
            "rayClusterConfig": {
                "rayVersion": RAY_VERSION,
                "enableInTreeAutoscaling": True,
                "autoscalerOptions": {
                    "version": "v2",
                    # A sale opening needs every missing pod at once, not a doubling per round.
                    "upscalingMode": "Aggressive",
                    "idleTimeoutSeconds": 300,
                    "resources": AUTOSCALER.resources(),
                },
                "gcsFaultToleranceOptions": {
                    "redisAddress": gcs_redis,
                    "redisPassword": {"valueFrom": {"secretKeyRef": {
                        "name": secret, "key": GCS_REDIS_PASSWORD_KEY}}},
                },
                "headGroupSpec": {
                    "rayStartParams": head_start,
                    "template": _head_template(settings, image, name, secret, gcs_redis_ca),
                },
                "workerGroupSpecs": [{
                    "groupName": WORKER_GROUP,
                    "replicas": workers[0],
                    "minReplicas": workers[0],
                    "maxReplicas": workers[1],
                    "rayStartParams": worker_start,
                    "template": _worker_template(settings, image, name, secret),
                }],
            },
        },
    }


def _head_template(settings: Settings, image: str, name: str, secret: str,
                   gcs_redis_ca: str | None) -> Manifest:
    ports = {"gcs-server": 6379, "dashboard": 8265, "client": 10001}
    env = ray_env(settings)
    if gcs_redis_ca is not None:
        env[REDIS_CA_CERT_ENV] = f"{GCS_REDIS_CA_DIR}/{GCS_REDIS_CA_KEY}"
    container = _ray_container(
        "ray-head", image, HEAD, settings, ports=ports,
        env=_env(env) + _secret_env(secret, STORE_ENV),
        liveness=_http_probe(delay=30, timeout=5, failures=120),
        readiness=_http_probe(delay=10, timeout=5, failures=10),
    )
    migrate = {
        "name": "migrate",
        "image": image,
        "command": ["tiketi", "migrate"],
        "env": _secret_env(secret, STORE_ENV),
        "resources": MIGRATE.resources(),
        "securityContext": _container_security(),
    }
    spec: Manifest = {
        "initContainers": [migrate],
        "containers": [container],
        "nodeSelector": {NODE_LABEL: HEAD_NODES},
        "tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": HEAD_NODES,
                         "effect": "NoSchedule"}],
    }
    if gcs_redis_ca is not None:
        container["volumeMounts"] = [{"name": "gcs-redis-ca", "mountPath": GCS_REDIS_CA_DIR,
                                      "readOnly": True}]
        spec["volumes"] = [{"name": "gcs-redis-ca", "configMap": {"name": gcs_redis_ca}}]
    return {
        "metadata": {
            "labels": pod_labels(name),
            # The cluster autoscaler must not move the head to pack nodes.
            "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        },
        "spec": spec,
    }


def _worker_template(settings: Settings, image: str, name: str, secret: str) -> Manifest:
    # As KubeRay's own default for RayService workers: ready while the raylet is alive and the
    # node's Serve ingress answers its health check, so a draining node leaves the Service.
    ready = " && ".join([
        _wget(DASHBOARD_AGENT_PORT, "api/local_raylet_healthz", timeout=2),
        _wget(settings.http.port, "-/healthz", timeout=2),
    ])
    container = _ray_container(
        "ray-worker", image, WORKER, settings, ports={},
        env=_env(ray_env(settings)) + _secret_env(secret, SECRET_ENV),
        liveness=_http_probe(delay=30, timeout=2, failures=120),
        readiness={"exec": {"command": ["bash", "-c", ready]}, "initialDelaySeconds": 10,
                   "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 1},
    )
    spread = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": _worker_selector(name)},
    }
    return {
        "metadata": {"labels": pod_labels(name)},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [container],
            "nodeSelector": {NODE_LABEL: WORKER_NODES},
            "topologySpreadConstraints": [spread],
        },
    }


def _ray_container(name: str, image: str, size: PodSize, settings: Settings, *,
                   ports: dict[str, int], env: list[Manifest], liveness: Manifest,
                   readiness: Manifest) -> Manifest:
    every_node = {"serve": settings.http.port, "metrics": RAY_METRICS_PORT,
                  "haproxy-metrics": settings.http.metrics_port}
    return {
        "name": name,
        "image": image,
        "ports": [{"name": port_name, "containerPort": number}
                  for port_name, number in {**ports, **every_node}.items()],
        "env": env,
        "resources": size.resources(),
        "livenessProbe": liveness,
        "readinessProbe": readiness,
        "securityContext": _container_security(),
    }


def _http_probe(*, delay: int, timeout: int, failures: int) -> Manifest:
    """The dashboard agent's health check: the raylet, and on the head the GCS too."""
    return {"httpGet": {"path": "/api/healthz", "port": DASHBOARD_AGENT_PORT},
            "initialDelaySeconds": delay, "periodSeconds": 5, "timeoutSeconds": timeout,
            "failureThreshold": failures}


def _wget(port: int, path: str, *, timeout: int) -> str:
    return f"wget --tries 1 -T {timeout} -q -O- http://localhost:{port}/{path} | grep success"


def _container_security() -> Manifest:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _env(values: dict[str, str]) -> list[Manifest]:
    return [{"name": key, "value": value} for key, value in values.items()]


def _secret_env(secret: str, keys: Sequence[str]) -> list[Manifest]:
    return [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for key in keys]


def _worker_selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": name, "ray.io/node-type": "worker"}


def _disruption_budget(namespace: str, name: str) -> Manifest:
    """Node drains take one worker at a time: its replicas and shards move while the others
    serve. The autoscaler's own scale-down does not go through evictions."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"{name}-workers", "namespace": namespace,
                     "labels": pod_labels(name)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _worker_selector(name)}},
    }


def _pod_monitor(namespace: str, name: str, release: str) -> Manifest:
    """Ray's metrics (its own and the engine's `ray_tiketi_*`) and HAProxy's, from every pod."""
    keep_cluster = [{"action": "replace",
                     "sourceLabels": ["__meta_kubernetes_pod_label_ray_io_cluster"],
                     "targetLabel": "ray_io_cluster"}]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {**pod_labels(name), "release": release}},
        "spec": {
            "jobLabel": "app.kubernetes.io/instance",
            "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
            "podMetricsEndpoints": [
                {"port": "metrics", "path": "/metrics", "relabelings": keep_cluster},
                {"port": "haproxy-metrics", "path": "/metrics", "relabelings": keep_cluster},
            ],
        },
    }


def _ca_config_map(namespace: str, name: str, config_map: str, pem: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_map, "namespace": namespace, "labels": pod_labels(name)},
        "data": {GCS_REDIS_CA_KEY: pem},
    }


def _dashboard_config_map(namespace: str, name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-grafana-dashboard", "namespace": namespace,
                     "labels": {**pod_labels(name), "grafana_dashboard": "1"}},
        "data": {"tiketi-engine.json": json.dumps(grafana_dashboard(), indent=2) + "\n"},
    }


# (title, unit, [(PromQL, legend)]). Ray prefixes every metric it exports with `ray_`.
_APPS = 'application!="", route!~"/-/.*"'  # requests to the services, not health checks
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Waiting users (queue length)", "short",
     [("sum(ray_tiketi_queue_length)", "waiting")]),
    ("Admission rate", "ops",
     [("sum(rate(ray_tiketi_admitted_total[1m]))", "admitted/s")]),
    ("Seats on hold", "short",
     [("sum(ray_tiketi_holds)", "held")]),
    ("Seats sold", "short",
     [("sum(ray_tiketi_sold_total)", "sold"),
      ("sum(rate(ray_tiketi_sold_total[1m]))", "sold/s")]),
    ("Request p99 latency by application", "ms",
     [("histogram_quantile(0.99, sum by (application, le) (rate("
       f"ray_serve_http_request_latency_ms_bucket{{{_APPS}}}[1m])))", "{{application}}")]),
    ("Requests per second by application", "reqps",
     [(f"sum by (application) (rate(ray_serve_num_http_requests_total{{{_APPS}}}[1m]))",
       "{{application}}")]),
    ("Replicas by deployment", "short",
     [("sum by (application) (ray_serve_deployment_replica_healthy)", "{{application}} healthy"),
      ("max by (application) (ray_serve_autoscaling_target_replicas)",
       "{{application}} target")]),
]


def grafana_dashboard() -> Manifest:
    panels = []
    for index, (title, unit, queries) in enumerate(PANELS):
        panels.append({
            "id": index + 1,
            "type": "timeseries",
            "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend}
                        for n, (expr, legend) in enumerate(queries)],
        })
    return {
        "uid": "tiketi-engine",
        "title": "TIKETI engine",
        "tags": ["tiketi", "ray"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Data source"}]},
        "panels": panels,
    }


def _str_block(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


# Multi-line strings (the Serve config, the dashboard) as literal blocks, readable in review;
# no anchors for objects used twice.
_Dumper: Any = type("_Dumper", (yaml.SafeDumper,), {"ignore_aliases": lambda self, data: True})
_Dumper.add_representer(str, _str_block)


PRODUCTION = Settings(
    autoscale=AutoscaleSettings(enabled=True, min_replicas=3, max_replicas=100),
    http=HttpSettings(queue_max_ongoing=12_000, replica_cpus=1.0),
    shards=ShardSettings(cpus=1.0, link_host="node"),
    hot_events=HotEventSettings(enabled=True),
)
"""The defaults of a cluster: Queue and Reservation replicas autoscale on the lines (the
seed: min 3, max 100), a Queue replica holds the sockets of its 10,000 waiting users, a
sale whose line outgrows its seat shards before it opens is re-planned over more of them,
and shards take command batches on their pod's address (replicas run on other pods).
Every replica and shard asks Ray for one CPU, what a busy one uses (one Python process), so
Ray's autoscaler adds worker pods for the CPU the load needs."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiketi kuberay",
                                     description="Kubernetes manifests of the engine on KubeRay.")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write the RayService and its companions (YAML)")
    render.add_argument("-o", "--output", help="file to write (default: standard output)")
    render.add_argument("--image", default=DEFAULT_IMAGE, help="the engine's container image")
    render.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="Kubernetes namespace")
    render.add_argument("--gcs-redis", default=DEFAULT_GCS_REDIS,
                        help="the Redis that keeps Ray's GCS (fault tolerance): "
                             "rediss://host:port (TLS) or redis://host:port "
                             f"(default: {DEFAULT_GCS_REDIS})")
    render.add_argument("--gcs-redis-ca", metavar="NAME",
                        help="the ConfigMap of the CA certificates the GCS trusts over TLS, "
                             f"written with the manifests (default: {DEFAULT_NAME}-gcs-redis-ca)")
    render.add_argument("--gcs-redis-ca-file", metavar="PEM",
                        help="CA certificates for that ConfigMap (default: Amazon Root CA 1-4, "
                             "which ElastiCache's certificates chain to)")
    render.add_argument("--defaults", action="store_true",
                        help="render the default settings, not the environment's "
                             "(how kuberay/rayservice.yaml is made)")
    args = parser.parse_args(argv)
    try:
        settings = PRODUCTION if args.defaults else Settings.from_env(
            {**PRODUCTION.to_env(), **os.environ})
        ca_pem = None
        if args.gcs_redis_ca_file:
            with open(args.gcs_redis_ca_file) as f:
                ca_pem = f.read()
        text = render_yaml(settings, image=args.image, namespace=args.namespace,
                           gcs_redis=args.gcs_redis, gcs_redis_ca=args.gcs_redis_ca,
                           gcs_redis_ca_pem=ca_pem)
    except (SettingsError, ValueError, OSError) as exc:
        print(f"tiketi: {exc}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
