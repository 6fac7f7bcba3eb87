"""Auth service: register, login (bcrypt cost 10, five failures lock the account for 15
minutes), rotating refresh tokens (a reused one revokes its family), the caller's profile,
and the public keys (JWKS) every service verifies tokens with."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from api.audit import AuditEntry
from api.context import ApiContext
from api.errors import ApiError, Conflict, Locked, NotFound, Unauthorized
from api.routing import Call, Endpoint
from api.schemas import Email, Name, Password, Schema, UserOut
from api.security.keys import jwks
from api.security.passwords import burn_verify_time, hash_password, verify_password
from api.security.tokens import REFRESH, InvalidToken, IssuedToken
from engine.store import tokens_repo, users_repo
from engine.store.errors import Conflict as StoreConflict
from engine.store.errors import NotFound as StoreNotFound
from engine.store.records import UserRecord

PREFIX = "/api/v1/auth"
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60


class RegisterIn(Schema):
    email: Email
    password: Password
    name: Name


class LoginIn(Schema):
    email: Email
    password: str


class RefreshIn(Schema):
    refresh_token: str


class TokensOut(Schema):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_expires_in: int
    user: UserOut


class Jwks(Schema):
    keys: list[dict[str, str]]


def user_out(user: UserRecord) -> UserOut:
    return UserOut(id=str(user.id), email=user.email, name=user.name, role=user.role,
                   created_at=user.created_at)


async def issue_tokens(ctx: ApiContext, user: UserRecord, *, family: UUID | None = None,
                       jti: UUID | None = None) -> TokensOut:
    """A new access token and a refresh token of `family` (a new family if None), stored."""
    tokens = ctx.tokens
    access = tokens.issue_access(user_id=str(user.id), email=user.email, role=user.role)
    refresh_jti = jti or uuid.uuid4()
    refresh = tokens.issue_refresh(user_id=str(user.id), email=user.email, role=user.role,
                                   family=str(family or uuid.uuid4()), jti=str(refresh_jti))
    if jti is None:
        async with ctx.db.acquire() as conn:
            await tokens_repo.store_refresh(
                conn, jti=refresh_jti, user_id=user.id, family_id=UUID(refresh.claims.family or ""),
                expires_at=_at(refresh))
    return TokensOut(access_token=access.token, refresh_token=refresh.token,
                     expires_in=access.claims.exp - access.claims.iat,
                     refresh_expires_in=refresh.claims.exp - refresh.claims.iat,
                     user=user_out(user))


def _at(token: IssuedToken) -> datetime:
    return datetime.fromtimestamp(token.claims.exp, UTC)


async def register(call: Call[ApiContext, RegisterIn]) -> TokensOut:
    body = call.body
    password_hash = await hash_password(body.password)
    try:
        async with call.ctx.db.acquire() as conn:
            user = await users_repo.create_user(conn, email=body.email, name=body.name,
                                                password_hash=password_hash)
    except StoreConflict:
        raise Conflict("an account with this email exists", code="EMAIL_TAKEN") from None
    return await issue_tokens(call.ctx, user)


async def login(call: Call[ApiContext, LoginIn]) -> TokensOut:
    body = call.body
    ctx = call.ctx
    async with ctx.db.acquire() as conn:
        user = await users_repo.find_user_by_email(conn, body.email)
        if user is None:
            await burn_verify_time(body.password)
            raise Unauthorized("invalid email or password", code="INVALID_CREDENTIALS")
        now = datetime.now(UTC)
        if user.locked_until is not None and user.locked_until > now:
            raise _locked(user.locked_until, now)
        if not await verify_password(body.password, user.password_hash):
            updated = await users_repo.record_login_failure(
                conn, user.id, max_failures=MAX_FAILURES, lock_seconds=LOCK_SECONDS)
            if updated.locked_until is not None and updated.locked_until > now:
                ctx.audit.record(AuditEntry(
                    action="auth.lockout", outcome="ACCOUNT_LOCKED", status_code=401,
                    user_id=str(user.id), ip=call.subject.removeprefix("ip:"),
                    details={"failed_logins": updated.failed_logins,
                             "locked_until": updated.locked_until.isoformat()}))
            raise Unauthorized("invalid email or password", code="INVALID_CREDENTIALS")
        await users_repo.record_login_success(conn, user.id)
    return await issue_tokens(ctx, user)


def _locked(until: datetime, now: datetime) -> ApiError:
    seconds = max(1, int((until - now).total_seconds()) + 1)
    return Locked("too many failed logins; the account is locked for a while",
                  headers={"Retry-After": str(seconds)},
                  details={"locked_until": until.isoformat()})


async def refresh_token(call: Call[ApiContext, RefreshIn]) -> TokensOut:
    body = call.body
    ctx = call.ctx
    try:
        claims = ctx.tokens.verify(body.refresh_token, typ=REFRESH)
    except InvalidToken as exc:
        raise Unauthorized(str(exc), code=exc.code) from None
    new_jti = uuid.uuid4()
    expires = datetime.now(UTC) + timedelta(seconds=ctx.tokens.refresh_ttl_s)
    async with ctx.db.acquire() as conn:
        rotation, family = await tokens_repo.rotate_refresh(
            conn, jti=UUID(claims.jti), new_jti=new_jti, new_expires_at=expires)
        if rotation is tokens_repo.Rotation.REUSED:
            ctx.audit.record(AuditEntry(
                action="auth.refresh_reuse", outcome="FAMILY_REVOKED", status_code=401,
                user_id=claims.user_id, details={"family": str(family)}))
            raise Unauthorized("this refresh token was already used; sign in again",
                               code="REFRESH_TOKEN_REUSED")
        if rotation is not tokens_repo.Rotation.ROTATED:
            raise Unauthorized("unknown or expired refresh token", code="TOKEN_INVALID")
        try:
            user = await users_repo.get_user(conn, UUID(claims.user_id))
        except StoreNotFound:
            raise Unauthorized("the account no longer exists", code="TOKEN_INVALID") from None
    return await issue_tokens(ctx, user, family=family, jti=new_jti)


async def me(call: Call[ApiContext]) -> UserOut:
    try:
        async with call.ctx.db.acquire() as conn:
            user = await users_repo.get_user(conn, UUID(call.caller.user_id))
    except StoreNotFound:
        raise NotFound("the account no longer exists") from None
    return user_out(user)


async def public_keys(call: Call[ApiContext]) -> Any:
    return jwks(call.ctx.tokens.verification)


ENDPOINTS = [
    Endpoint("POST", f"{PREFIX}/register", register, "Create an account", "auth",
             auth="public", body=RegisterIn, response=TokensOut, status=201,
             errors=(409, 422, 429)),
    Endpoint("POST", f"{PREFIX}/login", login, "Sign in", "auth", auth="public",
             body=LoginIn, response=TokensOut, errors=(401, 422, 423, 429)),
    Endpoint("POST", f"{PREFIX}/refresh-token", refresh_token,
             "Exchange a refresh token (rotated on use)", "auth", auth="public",
             body=RefreshIn, response=TokensOut, errors=(401, 422, 429)),
    Endpoint("GET", f"{PREFIX}/me", me, "The signed-in user", "auth", response=UserOut,
             errors=(401, 404, 429)),
    Endpoint("GET", f"{PREFIX}/jwks.json", public_keys,
             "Public keys (JWKS) that verify access tokens", "auth", auth="public",
             response=Jwks, rate_limited=False),
]
