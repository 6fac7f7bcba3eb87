"""`tiketi`: run the engine locally, apply migrations, audit an event, write the Serve config,
run the fake payment gateway."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from types import FrameType
from typing import Any

from engine.settings import Settings, SettingsError

log = logging.getLogger("tiketi")


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def cmd_migrate(settings: Settings) -> int:
    from engine.local.stores import LocalStores
    from engine.store.migrate import migrate

    with LocalStores(settings) as stores:
        applied = migrate(stores.database_url)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    return 0


def cmd_serve_config(settings: Settings, output: str | None) -> int:
    from engine.serve.config import serve_config_yaml
    from engine.serve.deploy import replica_env

    text = serve_config_yaml(settings, replica_env(settings))
    if output:
        with open(output, "w") as f:
            f.write(text)
        print(f"wrote {output}")
    else:
        print(text, end="")
    return 0


def cmd_up(settings: Settings) -> int:
    from engine.actors.cluster import connect_ray, disconnect_ray
    from engine.local.gateway import start_local_gateway
    from engine.local.stores import LocalStores
    from engine.serve.deploy import ha_proxy_environment
    from engine.store.migrate import migrate

    _stop_on_sigterm()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with LocalStores(settings) as stores:
        applied = migrate(stores.database_url)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        settings, fake_gateway = start_local_gateway(settings)
        ha_proxy_environment(settings)
        started_ray = connect_ray(settings)
        try:
            return asyncio.run(_serve(settings, stores.database_url, stores.redis_url,
                                      [type(s).__name__ for s in stores.started],
                                      started_ray, fake_gateway is not None))
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut
                signal.signal(sig, signal.SIG_IGN)  # the shutdown short
            disconnect_ray()
            if fake_gateway is not None:
                fake_gateway.stop()
            with contextlib.suppress(FileNotFoundError):
                (settings.data_dir / "engine.json").unlink()


async def _serve(
    settings: Settings, database_url: str, redis_url: str, embedded: list[str],
    started_ray: bool, fake_gateway: bool,
) -> int:
    from engine.actors.cluster import cluster_address
    from engine.provision import ensure_demo_event
    from engine.serve.deploy import deploy, ensure_admin, replica_settings
    from engine.serve.gateway import shard_directory
    from engine.store.pool import connect

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    directory = shard_directory(settings, database_url=database_url, redis_url=redis_url)
    events: list[dict[str, Any]] = []
    serving = replica_settings(settings, database_url=database_url, redis_url=redis_url)
    conn = await connect(database_url)
    try:
        admin, admin_password = await ensure_admin(conn, serving)
        demo = (await ensure_demo_event(conn, shard_count=settings.shards.per_event,
                                        opens_in=timedelta(seconds=settings.demo.opens_in_s))
                if settings.demo.enabled else None)
    finally:
        await conn.close()
    if demo is not None:
        event, created = demo
        await directory.open_event(str(event.id), event.shard_count, event.plan_generation)
        events.append({
            "id": str(event.id), "title": event.title, "created": created,
            "seats": event.seat_count, "standing": event.ga_quantity,
            "seat_shards": event.shard_count, "sale_opens_at": event.sale_opens_at.isoformat(),
            "queue_seed_sha256": event.queue_seed_hash,
        })

    await asyncio.get_running_loop().run_in_executor(None, deploy, serving)
    state = {
        "pid": os.getpid(),
        "api_url": f"http://{settings.http.host}:{settings.http.port}",
        "metrics_port": settings.http.metrics_port,
        "admin_email": admin.email,
        "database_url": database_url,
        "redis_url": redis_url,
        "embedded": embedded,
        "ray_address": cluster_address(),
        "ray_started_here": started_ray,
        "namespace": settings.namespace,
        "payment_gateway": settings.payments.gateway_url,
        "fake_gateway": fake_gateway,
        "events": events,
    }
    (settings.data_dir / "engine.json").write_text(json.dumps(state, indent=2))
    _print_summary(state, admin_password)

    parent = os.getppid()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        if os.getppid() != parent:
            log.warning("the parent process is gone; stopping")
            break
    print("TIKETI engine is stopping...", flush=True)
    return 0


def _print_summary(state: dict[str, Any], admin_password: str) -> None:
    embedded = state["embedded"]
    lines = [
        "TIKETI engine is up",
        f"  HTTP API     {state['api_url']}  (OpenAPI: {state['api_url']}/api/v1/openapi.json)",
        f"  Admin        {state['admin_email']} / {admin_password}",
        f"  Metrics      http://127.0.0.1:{state['metrics_port']}/metrics  (Prometheus)",
        f"  PostgreSQL   {state['database_url']}"
        + ("  (embedded)" if "EmbeddedPostgres" in embedded else ""),
        f"  Redis        {state['redis_url']}"
        + ("  (embedded, append-only)" if "EmbeddedRedis" in embedded else ""),
        f"  Ray          {state['ray_address']}"
        + ("  (local instance)" if state["ray_started_here"] else "")
        + f", namespace {state['namespace']!r}",
        f"  Payments     {state['payment_gateway']}"
        + ("  (local fake Toss gateway; POST /fake/checkout pays an order)"
           if state["fake_gateway"] else ""),
    ]
    for event in state["events"]:
        lines += [
            f"  Event        {event['id']}  {event['title']}",
            f"               {event['seats']:,} seats + {event['standing']:,} standing, "
            f"{event['seat_shards']} seat shards + 1 queue shard",
            f"               sale opens {event['sale_opens_at']}; queue seed "
            f"SHA-256 {event['queue_seed_sha256']}",
        ]
    lines.append("Stop with Ctrl-C or SIGTERM.")
    print("\n".join(lines), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiketi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the engine locally until stopped")
    sub.add_parser("migrate", help="apply database migrations")
    config = sub.add_parser("serve-config",
                            help="write the Serve config (YAML) of every API service")
    config.add_argument("-o", "--output", help="file to write (default: standard output)")
    sub.add_parser("audit", add_help=False,
                   help="check an event's money and seats agree (`tiketi audit --help`)")
    sub.add_parser("kuberay", add_help=False,
                   help="render the KubeRay manifests (`tiketi kuberay render --help`)")
    sub.add_parser("fake-gateway", add_help=False,
                   help="run the fake Toss Payments gateway (`tiketi fake-gateway --help`)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "audit":
        from engine.audit.command import main as audit_main

        return audit_main(rest)
    if args.command == "kuberay":
        from engine.serve.kuberay import main as kuberay_main

        return kuberay_main(rest)
    if args.command == "fake-gateway":
        from engine.payments.fake_gateway import main as gateway_main

        gateway_main(rest)
        return 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"tiketi: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    if args.command == "migrate":
        return cmd_migrate(settings)
    if args.command == "serve-config":
        return cmd_serve_config(settings, args.output)
    return cmd_up(settings)


if __name__ == "__main__":
    sys.exit(main())
