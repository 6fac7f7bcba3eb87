"""What can go wrong talking to the payment gateway, sorted by what the caller must do next.

- `GatewayRefused`: the gateway answered and said no (card rejected, bad request, no such
  payment). Nothing happened; retrying the same request will not help.
- `AlreadyProcessed`: the payment was already confirmed (or cancelled) by an earlier request;
  fetch it to learn the result.
- `GatewayUnknownOutcome`: no usable answer (timeout, dropped connection, malformed reply, a
  gateway-side failure). The payment may or may not have happened: reconcile by fetching it.

A call the circuit breaker refused raises `BreakerOpen` instead: it was never attempted."""

from __future__ import annotations

ALREADY_PROCESSED_PAYMENT = "ALREADY_PROCESSED_PAYMENT"
NOT_FOUND_PAYMENT = "NOT_FOUND_PAYMENT"

# Codes that Toss documents as temporary or internal failures, whatever their HTTP status.
_UNKNOWN_OUTCOME_CODES = frozenset(
    {
        "PROVIDER_ERROR",
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
        "UNKNOWN_PAYMENT_ERROR",
    }
)
# Request timeout, a concurrent request holding the same idempotency key, rate limited.
_UNKNOWN_OUTCOME_STATUSES = frozenset({408, 409, 429})


class GatewayError(Exception):
    """A failed gateway call. `http_status` is None when no HTTP reply was received."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {http_status})" if http_status else ""))
        self.code = code
        self.message = message
        self.http_status = http_status


class GatewayRefused(GatewayError):
    pass


class AlreadyProcessed(GatewayError):
    pass


class GatewayUnknownOutcome(GatewayError):
    pass


def error_for(code: str, message: str, http_status: int) -> GatewayError:
    """The error for a `{code, message}` reply with status `http_status`."""
    kind: type[GatewayError]
    if code == ALREADY_PROCESSED_PAYMENT:
        kind = AlreadyProcessed
    elif (
        code in _UNKNOWN_OUTCOME_CODES
        or http_status >= 500
        or http_status in _UNKNOWN_OUTCOME_STATUSES
    ):
        kind = GatewayUnknownOutcome
    else:
        kind = GatewayRefused
    return kind(code, message, http_status)
