"""The payment gateway side of the reservation saga: a Toss Payments client, the circuit breaker
guarding it, and (in `engine.payments.fake_gateway`) a local fake of the gateway."""

from engine.payments.breaker import BreakerOpen, BreakerState, CircuitBreaker
from engine.payments.errors import (
    ALREADY_PROCESSED_PAYMENT,
    NOT_FOUND_PAYMENT,
    AlreadyProcessed,
    GatewayError,
    GatewayRefused,
    GatewayUnknownOutcome,
    error_for,
)
from engine.payments.payment import Cancel, Payment, PaymentStatus, parse_payment
from engine.payments.toss import TOSS_API_URL, TossPaymentsClient

__all__ = [
    "ALREADY_PROCESSED_PAYMENT",
    "NOT_FOUND_PAYMENT",
    "TOSS_API_URL",
    "AlreadyProcessed",
    "BreakerOpen",
    "BreakerState",
    "Cancel",
    "CircuitBreaker",
    "GatewayError",
    "GatewayRefused",
    "GatewayUnknownOutcome",
    "Payment",
    "PaymentStatus",
    "TossPaymentsClient",
    "error_for",
    "parse_payment",
]
