"""What a use case answers when it refuses a request: a stable `code` (clients rely on it),
a message for people, and the `kind` of refusal. The kind is all a caller needs to decide
what to do (the HTTP layer maps it to a status code, `api.errors`); nothing here knows HTTP."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    FORBIDDEN = "forbidden"  # the caller may not do this
    NOT_FOUND = "not_found"  # nothing by that name
    CONFLICT = "conflict"  # not in the state it would need to be
    INVALID = "invalid"  # the request contradicts what is known (say, another amount)
    UNAVAILABLE = "unavailable"  # not now: retry after `retry_after_s`


class Refused(Exception):
    def __init__(self, code: str, message: str, kind: Kind = Kind.CONFLICT, *,
                 details: dict[str, Any] | None = None,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.details = details or {}
        self.retry_after_s = retry_after_s
