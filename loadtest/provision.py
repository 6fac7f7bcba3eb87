"""Creates N buyer accounts and their access tokens for a load run, quickly: one bcrypt hash
shared by every account (they all get the same password), the rows inserted in one COPY, and
RS256 tokens signed locally with the engine's key. The run itself then needs no bcrypt.

Direct mode (default) needs the database and the signing key — the engine's settings, or the
`.tiketi/` of a running `make up`. Against a remote engine, `--api` registers the accounts
over HTTP instead (the server hashes each password: slower, but it needs nothing local).

    python -m loadtest.provision --buyers 2000 --output loadtest/results/buyers.json"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from api.security.passwords import hash_password
from api.security.tokens import TokenService
from engine.local.running import running_engine
from engine.serve.context import signing_key
from engine.settings import Settings

PASSWORD_BYTES = 12


async def provision_direct(settings: Settings, database_url: str, count: int,
                           prefix: str) -> list[dict[str, str]]:
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    password_hash = await hash_password(password)
    key = signing_key(settings)
    tokens = TokenService(signing=key, verification=[key.verification])
    rows = [(uuid.uuid4(), f"{prefix}-{n}@load.test", password_hash, f"Buyer {n}", "user")
            for n in range(count)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table(
            "users", records=rows, columns=["id", "email", "password_hash", "name", "role"])
    finally:
        await conn.close()
    return [{"id": str(uid), "email": email, "password": password,
             "token": tokens.issue_access(user_id=str(uid), email=email, role="user").token}
            for uid, email, _, _, _ in rows]


async def provision_api(host: str, count: int, prefix: str,
                        concurrency: int = 16) -> list[dict[str, str]]:
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=host, timeout=60) as http:
        async def register(n: int) -> dict[str, str]:
            email = f"{prefix}-{n}@load.test"
            async with gate:
                r = await http.post("/api/v1/auth/register", json={
                    "email": email, "password": password, "name": f"Buyer {n}"},
                    headers={"X-Forwarded-For": f"10.9.{n // 250}.{n % 250 + 1}"})
            r.raise_for_status()
            body = r.json()
            return {"id": body["user"]["id"], "email": email, "password": password,
                    "token": body["accessToken"]}

        return list(await asyncio.gather(*(register(n) for n in range(count))))


def provision(settings: Settings, *, count: int, host: str | None = None,
              via_api: bool = False) -> list[dict[str, str]]:
    prefix = f"buyer{uuid.uuid4().hex[:8]}"
    database_url = (settings.stores.database_url
                    or running_engine(settings.data_dir).get("database_url"))
    if via_api or database_url is None:
        if host is None:
            raise SystemExit("no database to write to: pass --api and --host")
        return asyncio.run(provision_api(host, count, prefix))
    return asyncio.run(provision_direct(settings, database_url, count, prefix))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--api", action="store_true", help="register over HTTP (remote)")
    parser.add_argument("--host", default="http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    if args.buyers < 1:
        parser.error("--buyers must be at least 1")
    started = time.monotonic()
    buyers = provision(Settings.from_env(), count=args.buyers, host=args.host,
                       via_api=args.api)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(buyers))
    print(f"{len(buyers)} buyers in {time.monotonic() - started:.1f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
