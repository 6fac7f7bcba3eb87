"""The Serve config (the YAML that `serve deploy` and KubeRay's RayService take) of every API
service: one application per route prefix, all built by `engine.serve.apps:app_builder`."""

from __future__ import annotations

from typing import Any

import yaml

from api.catalog import SERVICES
from engine.serve.apps import deployment_options
from engine.settings import Settings

IMPORT_PATH = "engine.serve.apps:app_builder"


def serve_config(
    settings: Settings, env: dict[str, str], *, host: str = "0.0.0.0"  # noqa: S104 - in a pod
) -> dict[str, Any]:
    """`env` travels as each application's args; replicas also read their own process
    environment, where secrets (database, Redis, signing key) belong in production."""
    applications = []
    for spec in SERVICES:
        options = deployment_options(spec, settings)
        applications.append({
            "name": spec.name,
            "route_prefix": spec.route_prefix,
            "import_path": IMPORT_PATH,
            "args": {"service": spec.name, "env": dict(env)},
            "deployments": [{
                key: options[key] for key in (
                    "name", "num_replicas", "autoscaling_config", "max_ongoing_requests",
                    "ray_actor_options", "logging_config") if key in options
            }],
        })
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": settings.http.port},
        "applications": applications,
    }


def serve_config_yaml(settings: Settings, env: dict[str, str], **kw: Any) -> str:
    return str(yaml.safe_dump(serve_config(settings, env, **kw), sort_keys=False))
