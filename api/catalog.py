"""Every service of the API: its Serve application name, route prefix and endpoints. Each
route prefix is its own application, so HAProxy sends each request straight to a replica of
the deployment that serves it (no hop between an ingress and the service)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from api.routing import Endpoint


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # Serve application and deployment name
    service: str  # the seed's service it belongs to
    route_prefix: str
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("auth", "Auth", "/api/v1/auth", "api.services.auth"),
    ServiceSpec("events", "Event", "/api/v1/events", "api.services.events"),
    ServiceSpec("seatmap", "Event", "/api/v1/seats/events", "api.services.seatmap"),
    ServiceSpec("queue", "Queue", "/api/v1/queue", "api.services.queue"),
    ServiceSpec("seats", "Reservation", "/api/v1/seats", "api.services.seats"),
    ServiceSpec("reservations", "Reservation", "/api/v1/reservations",
                "api.services.reservations"),
    ServiceSpec("payments", "Payment", "/api/v1/payments", "api.services.payments"),
    ServiceSpec("admin", "Admin", "/api/v1/admin", "api.services.admin"),
    ServiceSpec("meta", "Gateway", "/", "api.services.meta"),
)
SERVICES_BY_NAME = {s.name: s for s in SERVICES}


def _collect() -> list[Endpoint]:
    endpoints: list[Endpoint] = []
    for spec in SERVICES:
        endpoints += spec.load().ENDPOINTS
    return endpoints


ENDPOINTS: list[Endpoint] = _collect()
