"""The Serve deployment of every API service: one class, bound once per service with its
own name, route prefix and replica count. `app_builder` is what a Serve config's
`import_path` names (see `engine.serve.config`)."""

from __future__ import annotations

import logging
import os
from typing import Any, cast

from ray import serve
from ray.serve.deployment import Application, Deployment
from starlette.applications import Starlette

from api.catalog import SERVICES_BY_NAME, ServiceSpec
from api.context import ApiContext
from api.service import build_app
from engine.serve.autoscaling import line_totals
from engine.serve.context import open_context
from engine.settings import Settings

log = logging.getLogger(__name__)

AUTOSCALED = {"queue": "engine.serve.autoscaling:queue_length_policy",
              "seats": "engine.serve.autoscaling:reservation_policy"}
"""The deployments that scale with the events' lines, and their Serve autoscaling policies."""


@serve.ingress()
class ServiceDeployment:
    async def __init__(self, service: str, env: dict[str, str]) -> None:  # type: ignore[misc]
        # Serve awaits an async constructor; the context needs I/O to open.
        settings = Settings.from_env({**os.environ, **env})
        logging.basicConfig(level=settings.log_level)
        self.spec: ServiceSpec = SERVICES_BY_NAME[service]
        self.module = self.spec.load()
        self.ctx: ApiContext = await open_context(settings)
        start = getattr(self.module, "start", None)
        if start is not None:
            await start(self.ctx)

    async def record_autoscaling_stats(self) -> dict[str, float]:
        """Serve asks each replica for these (autoscaling policies read them): the users in
        the events' lines, for the services that scale with them."""
        if self.spec.name not in AUTOSCALED:
            return {}
        return await line_totals(self.ctx.db, self.ctx.redis, self.ctx.settings.namespace)

    def __serve_build_asgi_app__(self) -> Starlette:
        extra = list(getattr(self.module, "routes", lambda ctx: [])(self.ctx))
        return build_app(self.ctx, self.module.ENDPOINTS, self.spec.route_prefix,
                         extra_routes=extra)

    async def __del__(self) -> None:
        ctx = getattr(self, "ctx", None)
        if ctx is not None:
            await ctx.close()


def deployment_options(spec: ServiceSpec, settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "name": spec.name,
        "num_replicas": settings.replicas().get(spec.name, 1),
        "ray_actor_options": {"num_cpus": 0.1},
        "max_ongoing_requests": settings.queue_max_ongoing if spec.name == "queue" else 1_000,
        "logging_config": {"enable_access_log": settings.access_log,
                           "log_level": settings.log_level},
    }
    if settings.autoscale and spec.name in AUTOSCALED:
        del options["num_replicas"]
        options["autoscaling_config"] = {
            "min_replicas": settings.autoscale_min_replicas,
            "max_replicas": settings.autoscale_max_replicas,
            "policy": {"policy_function": AUTOSCALED[spec.name]},
        }
    return options


def application(spec: ServiceSpec, settings: Settings, env: dict[str, str]) -> Application:
    deployment = cast(Deployment, serve.deployment(ServiceDeployment))
    return deployment.options(**deployment_options(spec, settings)).bind(spec.name, env)


def app_builder(args: dict[str, Any]) -> Application:
    """Serve config entry point: `{"service": <name>, "env": {<TIKETI_* variables>}}`. The
    replicas' own environment fills in what `env` leaves out (secrets, in production)."""
    env = {str(k): str(v) for k, v in dict(args.get("env", {})).items()}
    spec = SERVICES_BY_NAME[str(args["service"])]
    return application(spec, Settings.from_env({**os.environ, **env}), env)
