"""The formats of hold ids and seat ids, parsed in this one place.

A hold's part on shard k is `<k>.<digest>`, the digest of the user, the idempotency key and
the request itself, so the same request always names the same hold, the id is known before
the hold exists, and another request under the same key (which the shards refuse) names
another hold and never touches the first one's parts or quota.
A hold over several shards joins its parts with `+`, in shard order. The digest is also the
hold's quota reference in the user's home ledger. Seat ids are `<section>-<row>-<number>`
(`engine.core.venue.seat_id`)."""

from __future__ import annotations

import hashlib

from engine.core.errors import HoldNotFound


def hold_digest(user: str, key: str, *request: object) -> str:
    text = "\x00".join([user, key, *map(repr, request)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def part_id(shard: int, digest: str) -> str:
    return f"{shard}.{digest}"


def shard_of(part: str) -> int:
    """The shard of one part id (`<k>.<digest>`)."""
    return int(part.split(".", 1)[0])


def hold_parts(hold_id: str, shard_count: int) -> list[tuple[int, str]]:
    """The (shard, part id) pairs of a hold id; HoldNotFound if it is not one of ours."""
    if not isinstance(hold_id, str) or not hold_id or len(hold_id) > 1_000:
        raise HoldNotFound("malformed hold id")
    parts = []
    for part in hold_id.split("+"):
        head, _, tail = part.partition(".")
        if not head.isdigit() or not tail or int(head) >= shard_count:
            raise HoldNotFound(f"no hold {hold_id!r}", hold_id=hold_id)
        parts.append((int(head), part))
    return parts


def quota_ref(hold_id: str) -> str:
    """The ledger reference of a hold: its digest, the same for every part."""
    part = hold_id.split("+", 1)[0]
    return part.split(".", 1)[1] if "." in part else part


def seat_section(seat_id: str) -> str:
    """The section of a seat id (sections may contain `-`; rows and numbers do not)."""
    return seat_id.rsplit("-", 2)[0]
