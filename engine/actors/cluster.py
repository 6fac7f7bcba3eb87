"""Joining or starting Ray. A local instance is started with `address="local"`, never by
attaching to whatever cluster happens to run on the machine."""

from __future__ import annotations

import logging
from typing import Any

import ray

from engine.settings import Settings


def connect_ray(settings: Settings, **extra: Any) -> bool:
    """Connects to `RAY_ADDRESS`, or starts a local instance; True if it was started here."""
    if ray.is_initialized():
        return False
    local = not settings.ray.address
    options: dict[str, Any] = {
        "address": settings.ray.address or "local",
        "namespace": settings.namespace,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        **extra,
    }
    if local:
        options["include_dashboard"] = False
        options["_node_ip_address"] = "127.0.0.1"
        # Ray lowers its workers' priority (nice 15) below the driver's; here the workers are
        # the shards, the engine's critical path.
        options["_system_config"] = {"worker_niceness": 0}
        if settings.ray.num_cpus is not None:
            options["num_cpus"] = settings.ray.num_cpus
    ray.init(**options)
    return local


def disconnect_ray() -> None:
    """Leaves the cluster; a local instance started by `connect_ray` stops with it."""
    if ray.is_initialized():
        ray.shutdown()


def cluster_address() -> str:
    return str(ray.get_runtime_context().gcs_address)
