"""Hold ids and seat ids: their formats, parsed and written in this one place.

A hold's part on shard k is `<k>.<digest>`: the digest of the user, the idempotency key and
the request itself (`hold_digest`), so the same request always names the same hold, the id is
known before the hold exists, and another request under the same key (which the shards
refuse) names another hold and never touches the first one's parts or quota. A shard that is
given no id names a hold `<k>.<token>-<n>` itself (`local_part`). A hold over several shards
joins its parts with `+`, in shard order; the first part's digest is the hold's quota
reference in the user's home ledger.

A seat id is `<section>-<row>-<number>`; sections may contain `-`, rows and numbers do not."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NamedTuple

from engine.core.errors import HoldNotFound

PART_SEPARATOR = "+"
MAX_HOLD_ID = 1_000


def hold_digest(user: str, key: str, *request: object) -> str:
    text = "\x00".join([user, key, *map(repr, request)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class HoldPart(NamedTuple):
    """One shard's part of a hold (a named tuple: made on every request, cheaply)."""

    shard: int
    digest: str

    def __str__(self) -> str:
        return f"{self.shard}.{self.digest}"

    @classmethod
    def parse(cls, text: str) -> HoldPart:
        head, _, tail = text.partition(".")
        if not head.isdigit() or not tail:
            raise HoldNotFound(f"no hold {text!r}", hold_id=text)
        return cls(int(head), tail)


def local_part(prefix: str, counter: int) -> str:
    """The id a shard gives a hold it was given no id for; `prefix` is `<k>.<token>`."""
    return f"{prefix}-{counter}"


class HoldId(NamedTuple):
    parts: tuple[HoldPart, ...]

    def __str__(self) -> str:
        return PART_SEPARATOR.join(map(str, self.parts))

    @classmethod
    def parse(cls, text: object, shard_count: int) -> HoldId:
        """HoldNotFound unless `text` names parts on shards below `shard_count`."""
        if not isinstance(text, str) or not text or len(text) > MAX_HOLD_ID:
            raise HoldNotFound("malformed hold id")
        try:
            parts = tuple(HoldPart.parse(p) for p in text.split(PART_SEPARATOR))
        except HoldNotFound:
            raise HoldNotFound(f"no hold {text!r}", hold_id=text) from None
        if any(p.shard >= shard_count for p in parts):
            raise HoldNotFound(f"no hold {text!r}", hold_id=text)
        return cls(parts)

    @property
    def quota_ref(self) -> str:
        return self.parts[0].digest


def join_parts(part_ids: Iterable[str]) -> str:
    """One hold id from its parts' ids (in shard order), each once."""
    return PART_SEPARATOR.join(dict.fromkeys(part_ids))


def shard_of(part_id: str) -> int:
    return HoldPart.parse(part_id).shard


def quota_ref(hold_id: str) -> str:
    """The ledger reference of a hold id: its first part's digest (the whole first part if
    it is not in the part format)."""
    first = hold_id.split(PART_SEPARATOR, 1)[0]
    return first.split(".", 1)[1] if "." in first else first


def seat_id(section: str, row: str, number: int) -> str:
    return f"{section}-{row}-{number}"


def seat_section(seat: str) -> str:
    """The section of a seat id."""
    return seat.rsplit("-", 2)[0]
