"""Starting Serve and deploying every API service, from the driver (`tiketi up`, tests)."""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from pathlib import Path

import asyncpg
from ray import serve

from api.catalog import SERVICES
from api.security.passwords import hash_password, verify_password
from engine.serve.apps import application
from engine.serve.context import signing_key
from engine.settings import Settings
from engine.store import users_repo
from engine.store.records import UserRecord

HA_PROXY_ENV = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


def replica_settings(settings: Settings, *, database_url: str, redis_url: str) -> Settings:
    """The settings replicas start from: absolute paths, the stores' URLs, and a key file
    that exists (generated here once, so replicas never race to create one)."""
    data_dir = settings.data_dir.resolve()
    settings = replace(settings, data_dir=data_dir, stores=replace(
        settings.stores, database_url=database_url, redis_url=redis_url))
    security = settings.security
    if security.jwt_private_key is None and security.jwt_private_key_file is None:
        signing_key(settings, generate=True)
        settings = replace(settings, security=replace(
            security, jwt_private_key_file=data_dir / "keys" / "jwt-private.pem"))
    return settings


def replica_env(settings: Settings) -> dict[str, str]:
    """What replicas receive: every setting except a PEM key, which stays in the environment
    of the processes that were given it (a secret never travels in the Serve config)."""
    env = settings.to_env()
    env.pop("TIKETI_JWT_PRIVATE_KEY", None)
    env.pop("TIKETI_ADMIN_PASSWORD", None)
    env.pop("TIKETI_PAYMENT_SECRET_KEY", None)
    return env


def ha_proxy_env(settings: Settings) -> dict[str, str]:
    """The environment variables, read when Ray starts, that choose Serve's high-throughput
    mode and its ports."""
    env = {name: value if settings.http.ha_proxy else "0" for name, value in HA_PROXY_ENV.items()}
    env["RAY_SERVE_HAPROXY_METRICS_PORT"] = str(settings.http.metrics_port)
    env["RAY_SERVE_HAPROXY_STATS_PORT"] = str(settings.http.haproxy_stats_port)
    return env


def ha_proxy_environment(settings: Settings) -> None:
    """Sets `ha_proxy_env` in this process, so it runs before `connect_ray`."""
    os.environ.update(ha_proxy_env(settings))


def deploy(settings: Settings) -> None:
    """Starts Serve on the settings' host and port and deploys every service."""
    serve.start(http_options={"host": settings.http.host, "port": settings.http.port})
    env = replica_env(settings)
    serve.run_many([
        serve.RunTarget(application(spec, settings, env), name=spec.name,
                        route_prefix=spec.route_prefix)
        for spec in SERVICES
    ])


async def ensure_admin(conn: asyncpg.Connection, settings: Settings) -> tuple[UserRecord, str]:
    """The admin account, created on first start. Its password is the setting's, or one
    generated once and kept (mode 0600) in the data directory. Returns (user, password)."""
    email = settings.security.admin_email
    password = settings.security.admin_password or _stored_password(settings.data_dir)
    user = await users_repo.find_user_by_email(conn, email)
    if user is None:
        user = await users_repo.create_user(conn, email=email, name="Administrator",
                                            password_hash=await hash_password(password),
                                            role="admin")
    elif not await verify_password(password, user.password_hash):
        await users_repo.set_password(conn, user.id, await hash_password(password))
    return user, password


def _stored_password(data_dir: Path) -> str:
    path = data_dir / "admin-password"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password
