"""Event-wide ticket counts per user, for events whose seats are split over several shards.

A user's tickets may sit in any shard, so one shard (the user's home) keeps the user's count.
Before a hold is taken on any shard, quota for it is reserved here under a reference; the
reservation lapses at the hold's latest possible end unless committed (the hold was sold) or
released first. Every failure leaves the count too high for a while, never too low, so the
limit is never exceeded. A refused reservation is remembered under its reference for the
idempotency window: asked again, it is refused again, as the hold it was for is (the router
may have taken that hold in parallel, and undone it)."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from engine.core.clock import Clock
from engine.core.errors import InvalidCommand, QuotaNotFound, UserLimitExceeded


def home_shard(user: str, shard_count: int) -> int:
    """The shard whose ledger counts this user's tickets: stable across processes."""
    digest = hashlib.sha256(user.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shard_count


class Quota(NamedTuple):
    ref: str
    user_id: str
    tickets: int
    expires_at: float | None  # None once committed
    hold_id: str | None = None  # the hold it was committed for


class TicketLedger:
    def __init__(self, limit: int, clock: Clock, *, window: float = 3600.0) -> None:
        if limit < 1:
            raise InvalidCommand("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._entries: dict[str, Quota] = {}
        self._users: dict[str, int] = {}
        self._expiry: list[tuple[float, str]] = []
        # ref -> (user, count, have, at): refusals, oldest first
        self._refused: dict[str, tuple[str, int, int, float]] = {}

    def reserve(self, user: str, ref: str, count: int, expires_at: float) -> Quota:
        """Reserves `count` tickets of the user's limit. The same ref again returns the same
        reservation (it is the idempotency key)."""
        if not user or not ref:
            raise InvalidCommand("user and ref are required")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InvalidCommand("count must be a positive integer")
        now = self._clock.now()
        self._expire(now)
        existing = self._entries.get(ref)
        if existing is not None:
            if existing.user_id != user or existing.tickets != count:
                raise InvalidCommand("this quota reference was used for another reservation")
            return existing
        refused = self._refused.get(ref)
        if refused is not None and refused[0] == user and refused[1] == count:
            raise self._limit_error(refused[2], count)
        have = self._users.get(user, 0)
        if have + count > self.limit:
            self._refused[ref] = (user, count, have, now)
            raise self._limit_error(have, count)
        if expires_at <= now:
            raise InvalidCommand("a quota reservation must expire in the future")
        quota = Quota(ref, user, count, expires_at)
        self._entries[ref] = quota
        self._users[user] = have + count
        heapq.heappush(self._expiry, (expires_at, ref))
        return quota

    def _limit_error(self, have: int, count: int) -> UserLimitExceeded:
        return UserLimitExceeded(f"at most {self.limit} tickets per user for this event",
                                 limit=self.limit, have=have, requested=count)

    def _own(self, user: str, ref: str) -> Quota:
        quota = self._entries.get(ref)
        if quota is None or quota.user_id != user:
            raise QuotaNotFound(f"no live quota {ref!r} of this user", ref=ref)
        return quota

    def extend(self, user: str, ref: str, expires_at: float) -> Quota:
        """Keeps a reservation until `expires_at` (never shortens it)."""
        self._expire(self._clock.now())
        quota = self._own(user, ref)
        if quota.expires_at is not None and expires_at > quota.expires_at:
            quota = quota._replace(expires_at=expires_at)
            self._entries[ref] = quota
            heapq.heappush(self._expiry, (expires_at, ref))
        return quota

    def next_expiry(self) -> float | None:
        heap = self._expiry
        while heap:
            at, ref = heap[0]
            quota = self._entries.get(ref)
            if quota is not None and quota.expires_at == at:
                return at
            heapq.heappop(heap)
        return None

    def commit(self, user: str, ref: str, hold_id: str | None = None) -> Quota:
        """Makes a reservation permanent: its tickets were sold, as `hold_id`. A reservation
        is committed for one hold only: another hold under the same reference (a retry that
        found other seats after the first answer was lost) is refused, so it is never sold."""
        self._expire(self._clock.now())
        quota = self._own(user, ref)
        if quota.expires_at is not None:
            quota = quota._replace(expires_at=None, hold_id=hold_id)
            self._entries[ref] = quota
        elif hold_id is not None and quota.hold_id not in (None, hold_id):
            raise QuotaNotFound(f"quota {ref!r} was committed for another hold", ref=ref)
        return quota

    def release(self, user: str, ref: str) -> int:
        """Gives a reservation's tickets back; returns how many (0 if it was already gone)."""
        self._expire(self._clock.now())
        quota = self._entries.get(ref)
        if quota is None or quota.user_id != user:
            return 0
        del self._entries[ref]
        self._take(quota)
        return quota.tickets

    def count(self, user: str) -> int:
        self._expire(self._clock.now())
        return self._users.get(user, 0)

    def sweep(self) -> int:
        return self._expire(self._clock.now())

    def _take(self, quota: Quota) -> None:
        left = self._users[quota.user_id] - quota.tickets
        if left:
            self._users[quota.user_id] = left
        else:
            del self._users[quota.user_id]

    def _expire(self, now: float) -> int:
        refused = self._refused
        if refused:
            cutoff = now - self.window
            stale = []
            for ref, entry in refused.items():  # oldest first: the clock never goes back
                if entry[3] > cutoff:
                    break
                stale.append(ref)
            for ref in stale:
                del refused[ref]
        heap = self._expiry
        n = 0
        while heap and heap[0][0] <= now:
            at, ref = heapq.heappop(heap)
            quota = self._entries.get(ref)
            if quota is None or quota.expires_at != at:
                continue
            del self._entries[ref]
            self._take(quota)
            n += 1
        return n

    def reconcile(self, sold: Mapping[str, Iterable[tuple[str, int, str]]]) -> int:
        """Ensures every sale the system of record knows (user → (ref, count, hold id)) is
        committed here; returns how many were added. Quota already here is kept (never
        lowered)."""
        added = 0
        for user, refs in sold.items():
            for ref, count, hold_id in refs:
                if ref in self._entries:
                    if self._entries[ref].expires_at is not None:
                        self._entries[ref] = self._entries[ref]._replace(expires_at=None,
                                                                         hold_id=hold_id)
                    continue
                self._entries[ref] = Quota(ref, user, count, None, hold_id)
                self._users[user] = self._users.get(user, 0) + count
                added += 1
        return added

    def snapshot(self) -> dict[str, Any]:
        return {"limit": self.limit, "entries": [tuple(q) for q in self._entries.values()],
                "refused": [(ref, *entry) for ref, entry in self._refused.items()]}

    def restore(self, snap: Mapping[str, Any]) -> None:
        self.limit = snap["limit"]
        self._refused = {ref: (user, count, have, at)
                         for ref, user, count, have, at in snap.get("refused", ())}
        self._entries = {}
        self._users = {}
        for ref, user, count, expires_at, *hold_id in snap["entries"]:
            self._entries[ref] = Quota(ref, user, count, expires_at, *hold_id)
            self._users[user] = self._users.get(user, 0) + count
        self._expiry = [(q.expires_at, q.ref) for q in self._entries.values()
                        if q.expires_at is not None]
        heapq.heapify(self._expiry)
