"""Security over real HTTP: tampered tokens, RBAC, lockout, refresh-token reuse, the rate
limit, strict validation, the body limit, security headers and the audit log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization

from api.security.keys import load_signing_key
from api.security.tokens import TokenService
from tests.e2e.client import Client
from tests.e2e.conftest import Engine


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Any) -> str:
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return head + "." + b64(sign(head.encode()))


@pytest.fixture
async def user(api: str) -> AsyncIterator[Client]:
    client = Client(api)
    await client.register("Sec")
    yield client
    await client.close()


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


async def test_tampered_tokens_are_refused(user: Client, engine: Engine) -> None:
    assert user.token
    good = claims_of(user.token)
    key = load_signing_key(private_key_file=engine.settings.security.jwt_private_key_file)
    public_pem = key.public_pem()
    header = json.loads(base64.urlsafe_b64decode(user.token.split(".")[0] + "=="))
    forged = {
        "alg none": forge({"alg": "none", "typ": "JWT", "kid": header["kid"]}, good,
                          lambda _: b""),
        "HS256 with the public key": forge(
            {"alg": "HS256", "typ": "JWT", "kid": header["kid"]}, good,
            lambda m: hmac.new(public_pem, m, hashlib.sha256).digest()),
        "unknown kid": _resign(user.token, kid="not-our-key"),
        "altered claims": _alter(user.token, role="admin"),
        "expired": TokenService(signing=key, verification=[key.verification],
                                clock=lambda: time.time() - 8 * 86400).issue_access(
            user_id=good["userId"], email=good["email"], role="user").token,
        "refresh as access": user.refresh or "",
        "garbage": "not.a.token",
    }
    for name, token in forged.items():
        r = await user.http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        code = r.json()["error"]["code"]
        assert code == ("TOKEN_EXPIRED" if name == "expired" else "TOKEN_INVALID"), name
    assert (await user.get("/api/v1/auth/me")).status_code == 200


def _alter(token: str, **changes: Any) -> str:
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{head}.{b64(json.dumps(claims).encode())}.{signature}"


def _resign(token: str, *, kid: str) -> str:
    head, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header["kid"] = kid
    return f"{b64(json.dumps(header).encode())}.{payload}.{signature}"


async def test_only_admins_reach_admin_endpoints(user: Client, api: str) -> None:
    r = await user.get("/api/v1/admin/dashboard/stats")
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    anonymous = Client(api)
    r = await anonymous.get("/api/v1/admin/reservations")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    await anonymous.close()


async def test_five_failed_logins_lock_the_account(user: Client, api: str,
                                                   engine: Engine) -> None:
    email = user.user["email"]
    attacker = Client(api)
    for _ in range(5):
        r = await attacker.login(email, "wrong password!")
        assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_CREDENTIALS"
    r = await attacker.login(email, "correct horse")
    assert r.status_code == 423 and int(r.headers["Retry-After"]) > 800
    unknown = await attacker.login("nobody@example.com", "whatever1")
    assert unknown.status_code == 401
    await attacker.close()
    conn = await asyncpg.connect(engine.database_url)
    try:
        for _ in range(20):
            rows = await conn.fetch(
                "SELECT action, outcome, status_code FROM audit_log WHERE user_id = $1 OR "
                "(action = 'POST /api/v1/auth/login' AND status_code IN (401, 423))",
                uuid.UUID(user.user["id"]))
            if any(r["outcome"] == "ACCOUNT_LOCKED" for r in rows):
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    outcomes = {(r["action"], r["outcome"]) for r in rows}
    assert ("auth.lockout", "ACCOUNT_LOCKED") in outcomes
    assert ("POST /api/v1/auth/login", "INVALID_CREDENTIALS") in outcomes


async def test_a_reused_refresh_token_revokes_its_family(user: Client) -> None:
    first = user.refresh
    r = await user.http.post("/api/v1/auth/refresh-token", json={"refreshToken": first})
    assert r.status_code == 200
    second = r.json()["refreshToken"]
    assert second != first and claims_of(r.json()["accessToken"])["userId"] == user.user["id"]
    reuse = await user.http.post("/api/v1/auth/refresh-token", json={"refreshToken": first})
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
    after = await user.http.post("/api/v1/auth/refresh-token", json={"refreshToken": second})
    assert after.status_code == 401, "the whole family was revoked"


async def test_the_rate_limit_answers_429_with_retry_after(user: Client) -> None:
    codes = []
    for _ in range(105):
        r = await user.get("/api/v1/auth/me")
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["code"] == "RATE_LIMITED"
            break
    assert codes.count(200) <= 100 and codes[-1] == 429


async def test_bad_input_gets_a_clear_error_never_a_5xx(user: Client) -> None:
    cases: list[tuple[Any, dict[str, str], int, str]] = [
        (b"{not json", {"content-type": "application/json"}, 400, "INVALID_JSON"),
        (b'{"email": "x@y.zz"}', {"content-type": "text/plain"}, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"email": "x@y.zz"}', {"content-type": "application/json"}, 422,
         "VALIDATION_FAILED"),
        (b'{"email": "x@y.zz", "password": "long enough", "name": "N", "admin": true}',
         {"content-type": "application/json"}, 422, "VALIDATION_FAILED"),
        (b'{"email": 42, "password": "long enough", "name": "N"}',
         {"content-type": "application/json"}, 422, "VALIDATION_FAILED"),
        (b"", {"content-type": "application/json"}, 400, "BODY_REQUIRED"),
    ]
    for body, headers, status, code in cases:
        r = await user.http.post("/api/v1/auth/register", content=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code
    r = await user.get("/api/v1/events", params={"page": "zero", "sort": "price"})
    assert r.status_code == 422 and len(r.json()["error"]["details"]["problems"]) == 2
    r = await user.get("/api/v1/events", params={"unknown": "1"})
    assert r.status_code == 422
    r = await user.get("/api/v1/events/not-a-uuid")
    assert r.status_code == 404
    r = await user.get("/api/v1/reservations/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    r = await user.http.delete("/api/v1/auth/me")
    assert r.status_code == 405


async def test_oversized_bodies_are_refused(user: Client) -> None:
    big = b'{"email": "' + b"a" * 1_100_000 + b'"}'
    r = await user.http.post("/api/v1/auth/register", content=big,
                             headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_security_headers_on_every_response(user: Client) -> None:
    for path in ("/api/v1/auth/me", "/api/v1/events", "/no/such/path"):
        r = await user.get(path)
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-type"].startswith("application/json")


async def test_jwks_verifies_issued_tokens(user: Client) -> None:
    import jwt

    keys = (await user.http.get("/.well-known/jwks.json")).json()["keys"]
    assert keys == (await user.http.get("/api/v1/auth/jwks.json")).json()["keys"]
    public = jwt.PyJWK(keys[0]).key
    assert user.token
    claims = jwt.decode(user.token, public, algorithms=["RS256"])
    assert claims["userId"] == user.user["id"] and claims["jti"]
    public_pem = public.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    assert b"PUBLIC KEY" in public_pem
