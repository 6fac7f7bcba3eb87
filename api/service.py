"""Builds a service's Starlette app from its endpoint declarations: every request is
authenticated, rate limited, authorised, validated and handled in one place, and every
failure becomes a JSON error with the right status (never a 5xx for bad input)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from api.audit import AuditEntry
from api.context import ApiContext
from api.errors import (
    UNAVAILABLE,
    ApiError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    TooManyRequests,
    Unauthorized,
    http_error,
)
from api.middleware import Guard
from api.routing import (
    Call,
    Endpoint,
    EndpointRouter,
    header,
    parse_body,
    parse_path,
    parse_query,
    render,
    routes_of,
)
from api.security.tokens import ACCESS, Claims, InvalidToken
from engine.saga.errors import Refused

log = logging.getLogger(__name__)

AUDITED = {400, 401, 403, 413, 415, 422, 423, 429}
"""Statuses of the refusals the audit log records: those of the API's checks and of the
use cases, not of the shards' and the stores' own errors."""


def client_ip(conn: HTTPConnection, trusted_hops: int) -> str:
    """The client's address: the peer, or with proxies in front, the entry they appended."""
    if trusted_hops > 0:
        forwarded = header(conn, b"x-forwarded-for") or ""
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops]
    return conn.client.host if conn.client else "unknown"


def authenticate(ctx: ApiContext, conn: HTTPConnection) -> Claims | None:
    """The caller's access-token claims; None without a token; Unauthorized if it is bad."""
    authorization = header(conn, b"authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use an Authorization: Bearer <access token> header",
                           code="TOKEN_INVALID")
    try:
        return ctx.verify(token.strip(), typ=ACCESS)
    except InvalidToken as exc:
        raise Unauthorized(str(exc), code=exc.code) from None


def error_response(err: ApiError) -> Response:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers or None)


def audit_error(ctx: ApiContext, request: Request, err: ApiError, user: Claims | None,
                ip: str) -> None:
    if err.status in AUDITED:
        ctx.audit.record(AuditEntry(
            action=f"{request.method} {request.url.path}",
            outcome=err.code,
            status_code=err.status,
            user_id=user.user_id if user else None,
            ip=ip,
            details={"message": err.message[:200]},
        ))


def wrap(ctx: ApiContext, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    settings = ctx.settings

    async def handle(request: Request) -> Response:
        user: Claims | None = None
        ip = client_ip(request, settings.http.trusted_hops)
        try:
            try:
                user = authenticate(ctx, request)
            except Unauthorized:
                _limit(ctx, endpoint, f"ip:{ip}")
                raise
            subject = f"user:{user.user_id}" if user else f"ip:{ip}"
            _limit(ctx, endpoint, subject)
            if user is None and endpoint.auth in ("user", "admin"):
                raise Unauthorized()
            if endpoint.auth == "admin" and (user is None or user.role != "admin"):
                raise Forbidden("administrators only")
            params = parse_path(endpoint, request)
            query = parse_query(endpoint, request)
            body = await parse_body(endpoint, request, settings.http.max_body_bytes)
            call = Call(ctx, request, dict(request.path_params), query, body, user, subject,
                        params)
            return render(await endpoint.handler(call), endpoint.status)
        except Exception as exc:
            err = http_error(exc)
            if err is None:
                raise
            if isinstance(exc, ApiError | Refused):
                audit_error(ctx, request, err, user, ip)
            elif isinstance(exc, UNAVAILABLE):
                log.warning("dependency unavailable on %s %s: %s", request.method,
                            request.url.path, exc)
            return error_response(err)

    return handle


def _limit(ctx: ApiContext, endpoint: Endpoint, subject: str) -> None:
    if ctx.limiter is None or not endpoint.rate_limited:
        return
    decision = ctx.limiter.hit(subject)
    if not decision.allowed:
        raise TooManyRequests(
            f"at most {decision.limit} requests per minute",
            headers={"Retry-After": str(decision.retry_after_s)},
            details={"retry_after_s": decision.retry_after_s},
        )


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(NotFound(f"no route {request.url.path}"))


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(MethodNotAllowed(f"{request.method} is not allowed here"))


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path,
                  exc_info=exc)
    return JSONResponse({"error": {"code": "INTERNAL", "message": "internal error"}},
                        status_code=500)


class ServiceApp(Starlette):
    """A service's app: an `EndpointRouter`, which answers the declared endpoints' requests
    itself, in front of `Guard` and the Starlette app of every route, which answer the rest."""

    def __init__(self, ctx: ApiContext, endpoint_routes: Sequence[Route],
                 routes: Sequence[BaseRoute]) -> None:
        super().__init__(
            routes=routes,
            exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
        )
        self.state.ctx = ctx
        max_bytes = ctx.settings.http.max_body_bytes
        self._front = EndpointRouter(Guard(self._starlette, max_bytes=max_bytes),
                                     endpoint_routes, server_error, max_bytes=max_bytes)

    async def _starlette(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self._front(scope, receive, send)


def build_app(
    ctx: ApiContext,
    endpoints: Sequence[Endpoint],
    prefix: str,
    *,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    endpoint_routes = routes_of(endpoints, prefix, lambda e: wrap(ctx, e))
    return ServiceApp(ctx, endpoint_routes, [*endpoint_routes, *extra_routes])
