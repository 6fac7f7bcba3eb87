"""Domain errors. Each class has a stable `code` that callers (HTTP, journal replay, clients)
can rely on; `ERRORS_BY_CODE` maps a code back to its class."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "DOMAIN_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DomainError)
            and other.code == self.code
            and other.message == self.message
            and other.details == self.details
        )

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.code, self.message, self.details))


class ShardUnavailable(RuntimeError):
    """A shard cannot serve now: not started yet, restarting, or its journal failed. The
    command may or may not have been applied: retry it with the same idempotency key."""


class ShardStopped(ShardUnavailable):
    """A shard has stopped for good (its event closed, or its plan was replaced): the
    caller opens the event's current shards."""


def _rebuild(code: str, message: str, details: dict[str, Any]) -> DomainError:
    return error_from_code(code, message, details)


class InvalidCommand(DomainError):
    code = "INVALID_COMMAND"


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"


class UnknownSeat(DomainError):
    code = "UNKNOWN_SEAT"


class UnknownSection(DomainError):
    code = "UNKNOWN_SECTION"


class UnknownTicketType(DomainError):
    code = "UNKNOWN_TICKET_TYPE"


class SeatUnavailable(DomainError):
    code = "SEAT_UNAVAILABLE"


class NotEnoughSeats(DomainError):
    code = "NOT_ENOUGH_SEATS"


class NotEnoughTickets(DomainError):
    code = "NOT_ENOUGH_TICKETS"


class UserLimitExceeded(DomainError):
    code = "USER_LIMIT_EXCEEDED"


class HoldNotFound(DomainError):
    code = "HOLD_NOT_FOUND"


class HoldNotOwned(DomainError):
    code = "HOLD_NOT_OWNED"


class HoldExpired(DomainError):
    code = "HOLD_EXPIRED"


class HoldAlreadyConfirmed(DomainError):
    code = "HOLD_ALREADY_CONFIRMED"


class HoldReleased(DomainError):
    code = "HOLD_RELEASED"


class HoldExtensionRefused(DomainError):
    code = "HOLD_EXTENSION_REFUSED"


class SaleNotFound(DomainError):
    code = "SALE_NOT_FOUND"


class QuotaNotFound(DomainError):
    code = "QUOTA_NOT_FOUND"


class NotTheBest(DomainError):
    """A shard asked for its best seats only if they beat another shard's has worse ones;
    `best` is its (tier, score). Internal to the router, never shown to a buyer."""

    code = "NOT_THE_BEST"


class NotInQueue(DomainError):
    code = "NOT_IN_QUEUE"


class QueueClosed(DomainError):
    code = "QUEUE_CLOSED"


class NotAdmitted(DomainError):
    code = "NOT_ADMITTED"


ERRORS_BY_CODE: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        DomainError,
        InvalidCommand,
        IdempotencyKeyReused,
        UnknownSeat,
        UnknownSection,
        UnknownTicketType,
        SeatUnavailable,
        NotEnoughSeats,
        NotEnoughTickets,
        UserLimitExceeded,
        HoldNotFound,
        HoldNotOwned,
        HoldExpired,
        HoldAlreadyConfirmed,
        HoldReleased,
        HoldExtensionRefused,
        SaleNotFound,
        QuotaNotFound,
        NotTheBest,
        NotInQueue,
        QueueClosed,
        NotAdmitted,
    )
}


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> DomainError:
    cls = ERRORS_BY_CODE.get(code, DomainError)
    err = cls(message, **(details or {}))
    if cls is DomainError and code != DomainError.code:
        err.code = code  # type: ignore[misc]
    return err
