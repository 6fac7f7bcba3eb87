"""The API's errors and how every failure becomes a status code and a JSON body:
`{"error": {"code": ..., "message": ..., "details": {...}}}`."""

from __future__ import annotations

from typing import Any

from engine.core.errors import DomainError

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
