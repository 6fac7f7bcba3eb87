"""The Serve deployment of every API service: one class, bound once per service with its
own name, route prefix and replica count. `app_builder` is what a Serve config's
`import_path` names (see `engine.serve.config`). A replica opens its context, lets its
service's module start what its handlers need, then starts the engine's workers that run
beside that service (`WORKERS`): the API never reaches into this package."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, cast

from ray import serve
from ray.serve.deployment import Application, Deployment
from starlette.applications import Starlette

from api.catalog import SERVICES_BY_NAME, ServiceSpec
from api.context import ApiContext
from api.service import build_app
from engine.serve.autoscaling import ADMITTED, WAITING, autoscaling_config, line_totals
from engine.serve.context import open_context
from engine.serve.hot_events import start_hot_event_watcher
from engine.serve.payment_workers import start_payment_workers
from engine.settings import Settings

log = logging.getLogger(__name__)

AUTOSCALED = {"queue": WAITING, "seats": ADMITTED}
"""The deployments that scale with the events' lines, and the line figure each follows: the
Queue with the users waiting, the Reservation with the admitted users, who lock and reserve."""

WORKERS: dict[str, Callable[[ApiContext], Awaitable[None]]] = {
    "payments": start_payment_workers,  # the purchase saga (`ctx.saga`), its recovery, the outbox
    "queue": start_hot_event_watcher,
}
"""What each service's replicas run beside their requests, started after the service's own
`start`."""


@serve.ingress()
class ServiceDeployment:
    async def __init__(self, service: str, env: dict[str, str]) -> None:  # type: ignore[misc]
        # Serve awaits an async constructor; the context needs I/O to open.
        settings = Settings.from_env({**os.environ, **env})
        logging.basicConfig(level=settings.log_level)
        self.spec: ServiceSpec = SERVICES_BY_NAME[service]
        self.module = self.spec.load()
        self.ctx: ApiContext = await open_context(
            settings, pool_size=settings.payments.db_pool if service == "payments" else 10)
        start = getattr(self.module, "start", None)
        if start is not None:
            await start(self.ctx)
        workers = WORKERS.get(service)
        if workers is not None:
            await workers(self.ctx)

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
        "num_replicas": settings.http.replicas().get(spec.name, 1),
        "ray_actor_options": {"num_cpus": settings.http.replica_cpus},
        "max_ongoing_requests": {"queue": settings.http.queue_max_ongoing,
                                 "payments": settings.payments.max_ongoing}.get(spec.name, 1_000),
        "logging_config": {"enable_access_log": settings.http.access_log,
                           "log_level": settings.log_level},
    }
    if settings.autoscale.enabled and spec.name in AUTOSCALED:
        del options["num_replicas"]
        metric = AUTOSCALED[spec.name]
        options["autoscaling_config"] = autoscaling_config(
            metric,
            settings.autoscale.queue_users if metric == WAITING
            else settings.autoscale.admitted_users,
            min_replicas=settings.autoscale.min_replicas,
            max_replicas=settings.autoscale.max_replicas,
            requests_per_replica=settings.autoscale.requests,
            upscale_delay_s=settings.autoscale.upscale_delay_s,
            downscale_delay_s=settings.autoscale.downscale_delay_s,
            interval_s=settings.autoscale.interval_s,
        )
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
