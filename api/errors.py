"""The API's errors and how every failure becomes a status code and a JSON body:
`{"error": {"code": ..., "message": ..., "details": {...}}}`. `http_error` is the one table
from the engine's errors (a use case's refusal, a domain error, a store's, a dependency that
cannot answer) to the API's; a handler raises either kind."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from redis.exceptions import ClusterError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.core.errors import DomainError, ShardUnavailable
from engine.saga.errors import Kind, Refused
from engine.store.errors import Conflict as StoreConflict
from engine.store.errors import NotFound as StoreNotFound

# Domain error codes (engine.core.errors) to HTTP statuses.
DOMAIN_STATUS: dict[str, int] = {
    "INVALID_COMMAND": 422,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "UNKNOWN_SEAT": 422,
    "UNKNOWN_SECTION": 422,
    "UNKNOWN_TICKET_TYPE": 422,
    "SEAT_UNAVAILABLE": 409,
    "NOT_ENOUGH_SEATS": 409,
    "NOT_ENOUGH_TICKETS": 409,
    "USER_LIMIT_EXCEEDED": 409,
    "HOLD_NOT_FOUND": 404,
    "HOLD_NOT_OWNED": 403,
    "HOLD_EXPIRED": 409,
    "HOLD_ALREADY_CONFIRMED": 409,
    "HOLD_RELEASED": 409,
    "HOLD_EXTENSION_REFUSED": 409,
    "SALE_NOT_FOUND": 404,
    "QUOTA_NOT_FOUND": 409,
    "NOT_IN_QUEUE": 404,
    "QUEUE_CLOSED": 409,
    "NOT_ADMITTED": 403,
}


# A use case's refusals (engine.saga.errors), by kind, to HTTP statuses.
REFUSAL_STATUS: dict[Kind, int] = {
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.INVALID: 422,
    Kind.UNAVAILABLE: 503,
}

UNAVAILABLE = (ShardUnavailable, OSError, asyncpg.CannotConnectNowError,
               asyncpg.InterfaceError, RedisConnectionError, RedisTimeoutError,
               asyncio.TimeoutError,
               # A Redis Cluster that is down, has a slot uncovered, or no reachable node.
               ClusterError, RedisClusterException)
"""A dependency (a shard, PostgreSQL, Redis) cannot answer now: 503, retry shortly."""


class ApiError(Exception):
    """An error with its HTTP status and a stable code."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class BadRequest(ApiError):
    status, code = 400, "BAD_REQUEST"


class Unauthorized(ApiError):
    status, code = 401, "UNAUTHORIZED"

    def __init__(self, message: str = "authentication required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="tiketi"'})
        super().__init__(message, **kw)


class Forbidden(ApiError):
    status, code = 403, "FORBIDDEN"


class NotFound(ApiError):
    status, code = 404, "NOT_FOUND"


class MethodNotAllowed(ApiError):
    status, code = 405, "METHOD_NOT_ALLOWED"


class Conflict(ApiError):
    status, code = 409, "CONFLICT"


class PayloadTooLarge(ApiError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class Unprocessable(ApiError):
    status, code = 422, "VALIDATION_FAILED"


class TooManyRequests(ApiError):
    status, code = 429, "RATE_LIMITED"


class Locked(ApiError):
    status, code = 423, "ACCOUNT_LOCKED"


class Unavailable(ApiError):
    status, code = 503, "SERVICE_UNAVAILABLE"


def http_error(exc: Exception) -> ApiError | None:
    """The API's answer to an error; None to one that says nothing to a client (a bug)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Refused):
        return from_refusal(exc)
    if isinstance(exc, DomainError):
        return from_domain(exc)
    if isinstance(exc, StoreNotFound):
        return NotFound(str(exc))
    if isinstance(exc, StoreConflict):
        return Conflict(str(exc))
    if isinstance(exc, UNAVAILABLE):
        return Unavailable("a dependency is unavailable; retry shortly",
                           headers={"Retry-After": "1"})
    return None


def from_refusal(err: Refused) -> ApiError:
    headers = None if err.retry_after_s is None else {"Retry-After": str(err.retry_after_s)}
    return ApiError(err.message, code=err.code, status=REFUSAL_STATUS[err.kind],
                    details=err.details, headers=headers)


def from_domain(err: DomainError) -> ApiError:
    status = DOMAIN_STATUS.get(err.code, 409)
    details = {k: v for k, v in err.details.items() if _plain(v)}
    return ApiError(err.message, code=err.code, status=status, details=details)


def _plain(value: Any) -> bool:
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False
