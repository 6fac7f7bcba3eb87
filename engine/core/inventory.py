"""The seat inventory of one shard: named and best-available seat holds, general-admission
quantities, confirm/release/extend/expire, per-user limits and idempotent mutations.

Every mutation takes an idempotency key scoped to the user: the same key with the same command
returns the first outcome (result or error) and has no second effect; the same key with another
command is refused. Time comes from the injected clock, read once per command."""

from __future__ import annotations

import hashlib
import heapq
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from heapq import heappush
from typing import Any, NamedTuple

from engine.core import events as ev
from engine.core.best_available import RowIndex, SeatSelector
from engine.core.clock import Clock
from engine.core.errors import (
    DomainError,
    HoldAlreadyConfirmed,
    HoldExpired,
    HoldExtensionRefused,
    HoldNotFound,
    HoldNotOwned,
    HoldReleased,
    IdempotencyKeyReused,
    InvalidCommand,
    NotEnoughSeats,
    NotEnoughTickets,
    SaleNotFound,
    SeatUnavailable,
    UnknownSeat,
    UnknownSection,
    UnknownTicketType,
    UserLimitExceeded,
    error_from_code,
)
from engine.core.ids import local_part
from engine.core.venue import Venue

AVAILABLE, HELD, SOLD = 0, 1, 2
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__, on hot paths
SNAPSHOT_VERSION = 1


def policy_to_dict(policy: Any) -> dict[str, Any]:
    """A frozen policy dataclass as plain data (snapshots, commands)."""
    return {f.name: getattr(policy, f.name) for f in fields(policy)}


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    ttl: float = 600.0
    extension: float = 300.0
    max_extensions: int = 2
    max_lifetime: float = 1800.0
    user_limit: int = 4
    idempotency_window: float = 3600.0
    retention: float = 3600.0

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.extension < 0 or self.max_extensions < 0:
            raise InvalidCommand("hold ttl must be positive and extensions non-negative")
        if self.max_lifetime < self.ttl:
            raise InvalidCommand("max_lifetime must be at least the hold ttl")
        if self.user_limit < 1:
            raise InvalidCommand("user_limit must be at least 1")


class HoldView(NamedTuple):
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    ga: tuple[tuple[str, int], ...]
    amount: int
    created_at: float
    expires_at: float
    extensions: int
    status: str  # held | sold | released | expired | cancelled

    @property
    def tickets(self) -> int:
        return len(self.seat_ids) + sum(q for _, q in self.ga)

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> HoldView:
        """Rebuilds a view from its msgpack form (lists where tuples were)."""
        return cls(
            data[0], data[1], tuple(data[2]), tuple((t, q) for t, q in data[3]),
            data[4], data[5], data[6], data[7], data[8],
        )


class _Hold:
    __slots__ = (
        "amount", "created_at", "expires_at", "extensions", "ga", "id", "seat_ids", "seats",
        "user",
    )

    def __init__(
        self,
        hold_id: str,
        user: str,
        seats: tuple[int, ...],
        seat_ids: tuple[str, ...],
        ga: tuple[tuple[str, int], ...],
        amount: int,
        created_at: float,
        expires_at: float,
        extensions: int = 0,
    ) -> None:
        self.id = hold_id
        self.user = user
        self.seats = seats
        self.seat_ids = seat_ids
        self.ga = ga
        self.amount = amount
        self.created_at = created_at
        self.expires_at = expires_at
        self.extensions = extensions

    @property
    def tickets(self) -> int:
        return len(self.seats) + sum(q for _, q in self.ga)

    def view(self, status: str) -> HoldView:
        return HoldView(
            self.id, self.user, self.seat_ids, self.ga, self.amount, self.created_at,
            self.expires_at, self.extensions, status,
        )


class _TicketType:
    __slots__ = ("grade", "held", "id", "price", "quantity", "sold")

    def __init__(self, type_id: str, grade: str, price: int, quantity: int) -> None:
        self.id = type_id
        self.grade = grade
        self.price = price
        self.quantity = quantity
        self.held = 0
        self.sold = 0

    @property
    def available(self) -> int:
        return self.quantity - self.held - self.sold


Outcome = HoldView | DomainError


@dataclass(frozen=True, slots=True)
class ConfirmedSale:
    """A sale as the system of record knows it, for reconciliation."""

    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    ga: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    sold_forced: tuple[str, ...]
    sales_cancelled: tuple[str, ...]
    holds_broken: tuple[str, ...]
    conflicts: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.sold_forced or self.sales_cancelled or self.holds_broken)


class SeatInventory:
    def __init__(
        self, venue: Venue, policy: HoldPolicy, clock: Clock, *, hold_prefix: str = "h"
    ) -> None:
        """`hold_prefix` starts every hold id; the shell makes it unique per shard state."""
        self.venue = venue
        self.policy = policy
        self.hold_prefix = hold_prefix
        self._clock = clock

        seats = list(venue.seats())
        self._seats = seats
        self._seat_ids = [s.id for s in seats]
        self._index = {s.id: i for i, s in enumerate(seats)}
        self._price = [s.price for s in seats]
        self._section_ids = [s.id for s in venue.sections]
        self._section_index = {sid: k for k, sid in enumerate(self._section_ids)}
        grades = sorted({s.grade for s in seats})
        self._grade_ids = grades
        self._grade_index = {g: k for k, g in enumerate(grades)}
        self._sec_of = [self._section_index[s.section] for s in seats]
        self._grade_of = [self._grade_index[s.grade] for s in seats]
        self._sec_ranges: list[tuple[int, int]] = []
        rows: list[RowIndex] = []
        distance = [venue.distance(s) for s in seats]
        i = 0
        for k, section in enumerate(venue.sections):
            sec_start = i
            for row in section.rows:
                n = len(row.seats)
                if n:
                    rows.append(
                        RowIndex(
                            start=i,
                            end=i + n,
                            section=k,
                            lower_bound=min(distance[i : i + n]),
                            grades=frozenset(self._grade_of[i : i + n]),
                        )
                    )
                i += n
            self._sec_ranges.append((sec_start, i))
        self._selector = SeatSelector(rows, distance, self._grade_of, len(venue.sections),
                                      len(grades))
        self._layout_digest = hashlib.sha256(
            "\n".join(self._seat_ids + [f"ga:{t.id}" for t in venue.ticket_types]).encode()
        ).hexdigest()

        self._state = bytearray(len(seats))
        self._sec_avail = [end - start for start, end in self._sec_ranges]
        self._ga = {
            t.id: _TicketType(t.id, t.grade, t.price, t.quantity) for t in venue.ticket_types
        }
        self._available = len(seats) + sum(t.quantity for t in venue.ticket_types)

        self._holds: dict[str, _Hold] = {}
        self._sales: dict[str, _Hold] = {}
        self._closed: dict[str, tuple[str, str, float]] = {}
        self._closed_log: deque[tuple[float, str]] = deque()
        self._expiry: list[tuple[float, str]] = []
        self._users: dict[str, int] = {}
        self._idem: dict[tuple[str, str], tuple[tuple[Any, ...], Outcome, float]] = {}
        self._counter = 0
        self.events: list[ev.DomainEvent] = []

    # ------------------------------------------------------------------ mutations

    def hold(
        self, user: str, seat_ids: Sequence[str], key: str, hold_id: str | None = None
    ) -> HoldView:
        """Holds the named seats for `user`, all or nothing. `hold_id`, if given, names the
        hold (callers that must know the id before the hold exists derive it from the key)."""
        if not isinstance(seat_ids, (list, tuple)):  # a tuple of types: faster than a union
            raise InvalidCommand("seat_ids must be a list of seat ids")
        ids = tuple(seat_ids)
        fingerprint = ("hold", ids) if hold_id is None else ("hold", ids, hold_id)
        return self._idempotent(user, key, fingerprint, self._hold_named, user, ids, hold_id)

    def confirm(self, user: str, hold_id: str, key: str) -> HoldView:
        """Turns the caller's live hold into a sale."""
        return self._idempotent(user, key, ("confirm", hold_id), self._confirm, user, hold_id)

    def hold_best(
        self,
        user: str,
        count: int,
        key: str,
        section: str | None = None,
        grade: str | None = None,
        hold_id: str | None = None,
    ) -> HoldView:
        """Holds the best `count` available seats, optionally within a section or grade."""
        return self._idempotent(user, key, ("hold_best", count, section, grade, hold_id),
                                self._hold_best, user, count, section, grade, hold_id)

    def hold_ga(
        self, user: str, ticket_type: str, quantity: int, key: str, hold_id: str | None = None
    ) -> HoldView:
        """Holds `quantity` general-admission tickets of one type."""
        return self._idempotent(user, key, ("hold_ga", ticket_type, quantity, hold_id),
                                self._hold_ga, user, ticket_type, quantity, hold_id)

    def extend(self, user: str, hold_id: str, key: str, seconds: float | None = None) -> HoldView:
        """Pushes a hold's expiry out, within the policy's extension count and total lifetime."""
        return self._idempotent(user, key, ("extend", hold_id, seconds), self._extend, user,
                                hold_id, seconds)

    def release(self, user: str, hold_id: str, key: str) -> HoldView:
        return self._idempotent(user, key, ("release", hold_id), self._release, user, hold_id)

    def cancel_sale(self, user: str, hold_id: str, key: str) -> HoldView:
        """Puts a sale's seats back on sale (a refund or a compensation)."""
        return self._idempotent(user, key, ("cancel_sale", hold_id), self._cancel_sale, user,
                                hold_id)

    def set_policy(self, policy: HoldPolicy) -> HoldView | None:
        """New holds follow `policy`; live holds keep their expiry."""
        if not isinstance(policy, HoldPolicy):
            raise InvalidCommand("a HoldPolicy is required")
        self.policy = policy
        return None

    def sweep(self) -> list[str]:
        """Expires every hold past its expiry; forgets idempotency keys past their window."""
        now = self._clock.now()
        expired = self._expire(now)
        self._prune(now)
        return expired

    def next_expiry(self) -> float | None:
        heap = self._expiry
        while heap:
            at, hold_id = heap[0]
            hold = self._holds.get(hold_id)
            if hold is not None and hold.expires_at == at:
                return at
            heapq.heappop(heap)
        return None

    # ------------------------------------------------------------------ reads

    @property
    def layout_digest(self) -> str:
        return self._layout_digest

    @property
    def selector(self) -> SeatSelector:
        """The best-available index (derived from the seat states)."""
        return self._selector

    def best_key(self, count: int, section: str | None = None, grade: str | None = None
                 ) -> tuple[int, float] | None:
        """How good `hold_best` would be now, as (tier, score): smaller is better; None if it
        would find nothing (or the section or grade is not here)."""
        sec = self.section_index(section)
        gr = self.grade_index(grade)
        if (section is not None and sec is None) or (grade is not None and gr is None) or (
                type(count) is not int or count < 1):
            return None
        return self._selector.best_key(count, sec, gr)

    def best_keys(self, section: str | None = None, grade: str | None = None,
                  upto: int = 1) -> list[tuple[int, float] | None]:
        """`best_key` for every count from 1 to `upto` or the largest count asked so far."""
        return [self.best_key(count, section, grade)
                for count in range(1, max(upto, self._selector.counts) + 1)]

    def knows(self, user: str, key: str) -> bool:
        """Whether this idempotency key has been used by this user (within its window)."""
        return (user, key) in self._idem

    def section_index(self, section: str | None) -> int | None:
        return None if section is None else self._section_index.get(section)

    def grade_index(self, grade: str | None) -> int | None:
        return None if grade is None else self._grade_index.get(grade)

    @property
    def seat_ids(self) -> list[str]:
        return list(self._seat_ids)

    def seat_states(self) -> bytes:
        """One byte per seat, in `seat_ids` order: 0 available, 1 held, 2 sold."""
        return bytes(self._state)

    def seat_status(self, seat_id: str) -> str:
        i = self._index.get(seat_id)
        if i is None:
            raise UnknownSeat(f"no seat {seat_id!r}", seat_id=seat_id)
        return ("available", "held", "sold")[self._state[i]]

    def hold_info(self, hold_id: str) -> HoldView:
        hold = self._holds.get(hold_id)
        if hold is not None:
            return hold.view("expired" if hold.expires_at <= self._clock.now() else "held")
        sale = self._sales.get(hold_id)
        if sale is not None:
            return sale.view("sold")
        raise HoldNotFound(f"no live hold or sale {hold_id!r}", hold_id=hold_id)

    def user_tickets(self, user: str) -> int:
        return self._users.get(user, 0)

    def totals(self) -> dict[str, int]:
        held = sum(t.held for t in self._ga.values()) + self._state.count(HELD)
        sold = sum(t.sold for t in self._ga.values()) + self._state.count(SOLD)
        capacity = len(self._state) + sum(t.quantity for t in self._ga.values())
        return {"capacity": capacity, "available": capacity - held - sold, "held": held,
                "sold": sold, "holds": len(self._holds), "sales": len(self._sales)}

    def availability(self) -> dict[str, Any]:
        """Counts per section and grade, and per general-admission ticket type."""
        sections: dict[str, Any] = {}
        state = self._state
        grade_of = self._grade_of
        for k, (start, end) in enumerate(self._sec_ranges):
            grades: dict[str, list[int]] = {}
            for i in range(start, end):
                counts = grades.setdefault(self._grade_ids[grade_of[i]], [0, 0, 0])
                counts[state[i]] += 1
            sections[self._section_ids[k]] = {
                "capacity": end - start,
                "available": state.count(AVAILABLE, start, end),
                "held": state.count(HELD, start, end),
                "sold": state.count(SOLD, start, end),
                "grades": {
                    g: {"available": c[0], "held": c[1], "sold": c[2]}
                    for g, c in sorted(grades.items())
                },
            }
        ticket_types = {
            t.id: {"grade": t.grade, "price": t.price, "capacity": t.quantity,
                   "available": t.available, "held": t.held, "sold": t.sold}
            for t in self._ga.values()
        }
        return {"sections": sections, "ticket_types": ticket_types, "totals": self.totals()}

    def sales(self) -> list[HoldView]:
        return [s.view("sold") for s in self._sales.values()]

    def holds(self) -> list[HoldView]:
        return [h.view("held") for h in self._holds.values()]

    def pull_events(self) -> list[ev.DomainEvent]:
        out = self.events
        self.events = []
        return out

    # ------------------------------------------------------------------ idempotency

    def _idempotent(
        self, user: str, key: str, fingerprint: tuple[Any, ...],
        action: Callable[..., HoldView], *args: Any,
    ) -> HoldView:
        """Runs `action(*args, now)` once per (user, key): a key seen before returns (or
        raises) its first outcome, or is refused if it came with another command. Expired
        holds go first. This is every mutation's hot path, hence its plain shape."""
        if type(key) is not str or type(user) is not str or not user or not key or len(
                key) > 200:
            _refuse_caller(user, key)
        now = self._clock.now()
        heap = self._expiry
        if heap and heap[0][0] <= now:
            self._expire(now)
        ikey = (user, key)
        cached = self._idem.get(ikey)
        if cached is not None:
            if cached[0] != fingerprint:
                raise IdempotencyKeyReused(
                    "this idempotency key was used for another command", key=key)
            outcome = cached[1]
            if isinstance(outcome, DomainError):
                raise outcome
            return outcome
        try:
            result = action(*args, now)
        except DomainError as err:
            self._idem[ikey] = (fingerprint, err, now)
            raise
        self._idem[ikey] = (fingerprint, result, now)
        return result

    def _prune(self, now: float) -> None:
        """Forgets keys past the window. Keys are stored once each, in time order (the clock
        never goes back), so the oldest are at the front of the dict."""
        cutoff = now - self.policy.idempotency_window
        idem = self._idem
        stale = []
        for ikey, entry in idem.items():
            if entry[2] > cutoff:
                break
            stale.append(ikey)
        for ikey in stale:
            del idem[ikey]
        cutoff = now - self.policy.retention
        closed_log = self._closed_log
        while closed_log and closed_log[0][0] <= cutoff:
            at, hold_id = closed_log.popleft()
            record = self._closed.get(hold_id)
            if record is not None and record[2] == at:
                del self._closed[hold_id]

    # ------------------------------------------------------------------ implementation

    def _check_limit(self, user: str, adding: int) -> int:
        have = self._users.get(user, 0)
        if have + adding > self.policy.user_limit:
            raise UserLimitExceeded(
                f"at most {self.policy.user_limit} tickets per user",
                limit=self.policy.user_limit, have=have, requested=adding,
            )
        return have

    def _hold_named(
        self, user: str, seat_ids: tuple[str, ...], hold_id: str | None, now: float
    ) -> HoldView:
        if not seat_ids:
            raise InvalidCommand("seat_ids must be a non-empty list of seat ids")
        index = self._index
        state = self._state
        idxs = []
        unavailable = False
        for sid in seat_ids:
            try:
                i = index.get(sid)
            except TypeError:
                i = None
            if i is None:
                unknown = [str(x) for x in seat_ids if not isinstance(x, str) or x not in index]
                raise UnknownSeat(f"unknown seat(s): {', '.join(unknown[:10])}",
                                  seat_ids=unknown)
            if state[i]:
                unavailable = True
            idxs.append(i)
        n = len(idxs)
        if n > 1 and len(set(idxs)) != n:
            raise InvalidCommand("a seat is named twice")
        if unavailable:
            taken = [self._seat_ids[i] for i in idxs if state[i] != AVAILABLE]
            raise SeatUnavailable(f"seat(s) not available: {', '.join(taken[:10])}",
                                  seat_ids=taken)
        if self._users.get(user, 0) + n > self.policy.user_limit:
            self._check_limit(user, n)
        if hold_id is None:
            self._counter += 1
            hold_id = local_part(self.hold_prefix, self._counter)
        else:
            hold_id = self._hold_id(hold_id)
        return self._take_seats(user, tuple(idxs), seat_ids, now, hold_id)

    def _hold_best(
        self, user: str, count: int, section: str | None, grade: str | None,
        hold_id: str | None, now: float,
    ) -> HoldView:
        if type(count) is not int or count < 1:
            raise InvalidCommand("count must be a positive integer")
        sec = None
        if section is not None:
            sec = self._section_index.get(section)
            if sec is None:
                raise UnknownSection(f"no section {section!r} here", section=section)
        gr = None
        if grade is not None:
            gr = self._grade_index.get(grade)
            if gr is None:
                raise NotEnoughSeats(f"no seats of grade {grade!r} here", grade=grade)
        if self._users.get(user, 0) + count > self.policy.user_limit:
            self._check_limit(user, count)
        chosen = self._selector.choose(count, sec, gr)
        if chosen is None:
            raise NotEnoughSeats(f"fewer than {count} seats available", requested=count)
        seat_ids = self._seat_ids
        return self._take_seats(user, tuple(chosen), tuple([seat_ids[i] for i in chosen]),
                                now, self._hold_id(hold_id))

    def _hold_id(self, wanted: str | None) -> str:
        """The id of a new hold: the caller's, if given and unused, or the next of ours."""
        if wanted is None:
            self._counter += 1
            return local_part(self.hold_prefix, self._counter)
        if type(wanted) is not str or not wanted or len(wanted) > 120:
            raise InvalidCommand("a hold id must be a string of 1 to 120 characters")
        if wanted in self._holds or wanted in self._sales or wanted in self._closed:
            raise InvalidCommand("this hold id is already in use", hold_id=wanted)
        return wanted

    def _take_seats(
        self, user: str, idxs: tuple[int, ...], seat_ids: tuple[str, ...], now: float,
        hold_id: str,
    ) -> HoldView:
        expires_at = now + self.policy.ttl
        state = self._state
        sec_avail = self._sec_avail
        sec_of = self._sec_of
        price = self._price
        events = self.events
        amount = 0
        for i in idxs:
            state[i] = HELD
            amount += price[i]
            s = sec_of[i]
            sec_avail[s] -= 1
            if not sec_avail[s]:
                events.append(ev.SoldOut(now, self._section_ids[s]))
        self._selector.taken(idxs)
        hold = _Hold(hold_id, user, idxs, seat_ids, (), amount, now, expires_at)
        tickets = len(idxs)
        self._holds[hold_id] = hold
        users = self._users
        users[user] = users.get(user, 0) + tickets
        heappush(self._expiry, (expires_at, hold_id))
        was = self._available
        self._available = was - tickets
        if was == tickets:
            events.append(ev.SoldOut(now, "*"))
        events.append(_new(ev.SeatsHeld, (now, hold_id, user, seat_ids, (), expires_at)))
        return _new(HoldView, (hold_id, user, seat_ids, (), amount, now, expires_at, 0, "held"))

    def _hold_ga(
        self, user: str, ticket_type: str, quantity: int, hold_id: str | None, now: float
    ) -> HoldView:
        tt = self._ga.get(ticket_type)
        if tt is None:
            raise UnknownTicketType(f"no ticket type {ticket_type!r} here",
                                    ticket_type=ticket_type)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise InvalidCommand("quantity must be a positive integer")
        if tt.available < quantity:
            raise NotEnoughTickets(f"only {tt.available} {ticket_type} tickets left",
                                   available=tt.available, requested=quantity)
        self._check_limit(user, quantity)
        hold = _Hold(self._hold_id(hold_id), user, (), (), ((ticket_type, quantity),),
                     tt.price * quantity, now, now + self.policy.ttl)
        tt.held += quantity
        if not tt.available:
            self.events.append(ev.SoldOut(now, tt.id))
        self._commit_hold(hold, quantity, now)
        return hold.view("held")

    def _commit_hold(self, hold: _Hold, tickets: int, now: float) -> None:
        """Books a new general-admission hold (seat holds are booked inline, for speed)."""
        hold_id = hold.id
        user = hold.user
        users = self._users
        self._holds[hold_id] = hold
        users[user] = users.get(user, 0) + tickets
        heappush(self._expiry, (hold.expires_at, hold_id))
        was = self._available
        self._available = was - tickets
        if was == tickets:
            self.events.append(ev.SoldOut(now, "*"))
        self.events.append(ev.SeatsHeld(now, hold_id, user, hold.seat_ids, hold.ga,
                                        hold.expires_at))

    def _live_hold(self, user: str, hold_id: str, now: float) -> _Hold:
        hold = self._holds.get(hold_id)
        if hold is not None:
            if hold.user != user:
                raise HoldNotOwned("this hold belongs to another user", hold_id=hold_id)
            return hold
        sale = self._sales.get(hold_id)
        if sale is not None:
            if sale.user != user:
                raise HoldNotOwned("this hold belongs to another user", hold_id=hold_id)
            raise HoldAlreadyConfirmed("this hold is already confirmed", hold_id=hold_id)
        closed = self._closed.get(hold_id)
        if closed is not None:
            status, owner, _ = closed
            if owner != user:
                raise HoldNotOwned("this hold belongs to another user", hold_id=hold_id)
            if status == "expired":
                raise HoldExpired("this hold has expired", hold_id=hold_id)
            raise HoldReleased(f"this hold was {status}", hold_id=hold_id, status=status)
        raise HoldNotFound(f"no hold {hold_id!r}", hold_id=hold_id)

    def _extend(self, user: str, hold_id: str, seconds: float | None, now: float) -> HoldView:
        hold = self._live_hold(user, hold_id, now)
        policy = self.policy
        if seconds is None:
            seconds = policy.extension
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            raise InvalidCommand("seconds must be a positive number")
        if hold.extensions >= policy.max_extensions:
            raise HoldExtensionRefused(
                f"a hold can be extended at most {policy.max_extensions} times",
                hold_id=hold_id)
        new_expiry = min(max(hold.expires_at, now + min(seconds, policy.extension)),
                         hold.created_at + policy.max_lifetime)
        if new_expiry <= hold.expires_at:
            raise HoldExtensionRefused("the hold has reached its maximum lifetime",
                                       hold_id=hold_id)
        hold.expires_at = new_expiry
        hold.extensions += 1
        heapq.heappush(self._expiry, (new_expiry, hold_id))
        self.events.append(ev.HoldExtended(now, hold_id, user, new_expiry))
        return hold.view("held")

    def _release(self, user: str, hold_id: str, now: float) -> HoldView:
        hold = self._live_hold(user, hold_id, now)
        self._free_hold(hold, "released", now)
        self.events.append(ev.SeatsReleased(now, hold.id, hold.user, hold.seat_ids, hold.ga,
                                            "released"))
        return hold.view("released")

    def _confirm(self, user: str, hold_id: str, now: float) -> HoldView:
        hold = self._holds.get(hold_id)
        if hold is None or hold.user != user:
            hold = self._live_hold(user, hold_id, now)
        self._sell(hold)
        self.events.append(_new(ev.SeatsSold, (now, hold_id, user, hold.seat_ids, hold.ga,
                                               hold.amount)))
        return _new(HoldView, (hold_id, user, hold.seat_ids, hold.ga, hold.amount,
                               hold.created_at, hold.expires_at, hold.extensions, "sold"))

    def _sell(self, hold: _Hold) -> None:
        del self._holds[hold.id]
        state = self._state
        for i in hold.seats:
            state[i] = SOLD
        if hold.ga:
            for type_id, q in hold.ga:
                tt = self._ga[type_id]
                tt.held -= q
                tt.sold += q
        self._sales[hold.id] = hold

    def _cancel_sale(self, user: str, hold_id: str, now: float) -> HoldView:
        sale = self._sales.get(hold_id)
        if sale is None:
            raise SaleNotFound(f"no sale {hold_id!r}", hold_id=hold_id)
        if sale.user != user:
            raise HoldNotOwned("this sale belongs to another user", hold_id=hold_id)
        self._unsell(sale, "cancelled", now)
        return sale.view("cancelled")

    def _unsell(self, sale: _Hold, reason: str, now: float) -> None:
        del self._sales[sale.id]
        for type_id, q in sale.ga:
            self._ga[type_id].sold -= q
            self._ga[type_id].held += q
        state = self._state
        for i in sale.seats:
            state[i] = HELD
        self._holds[sale.id] = sale
        self._free_hold(sale, reason, now)
        self.events.append(ev.SaleCancelled(now, sale.id, sale.user, sale.seat_ids, sale.ga,
                                            reason))

    def _free_hold(self, hold: _Hold, status: str, now: float) -> None:
        """Returns a live hold's seats and tickets to sale and records how it ended."""
        del self._holds[hold.id]
        state = self._state
        sec_avail = self._sec_avail
        sec_of = self._sec_of
        for i in hold.seats:
            state[i] = AVAILABLE
            s = sec_of[i]
            if not sec_avail[s]:
                self.events.append(ev.BackOnSale(now, self._section_ids[s]))
            sec_avail[s] += 1
        if hold.seats:
            self._selector.freed(hold.seats)
        for type_id, q in hold.ga:
            tt = self._ga[type_id]
            if not tt.available:
                self.events.append(ev.BackOnSale(now, type_id))
            tt.held -= q
        tickets = hold.tickets
        left = self._users[hold.user] - tickets
        if left:
            self._users[hold.user] = left
        else:
            del self._users[hold.user]
        if not self._available:
            self.events.append(ev.BackOnSale(now, "*"))
        self._available += tickets
        self._closed[hold.id] = (status, hold.user, now)
        self._closed_log.append((now, hold.id))

    def _expire(self, now: float) -> list[str]:
        heap = self._expiry
        holds = self._holds
        expired = []
        while heap and heap[0][0] <= now:
            at, hold_id = heapq.heappop(heap)
            hold = holds.get(hold_id)
            if hold is None or hold.expires_at != at:
                continue
            self._free_hold(hold, "expired", at)
            self.events.append(ev.HoldLapsed(at, hold.id, hold.user, hold.seat_ids, hold.ga))
            expired.append(hold_id)
        return expired

    # ------------------------------------------------------------------ reconciliation

    def reconcile(
        self, confirmed: Iterable[ConfirmedSale], active_hold_ids: Iterable[str]
    ) -> ReconcileReport:
        """Makes the shard agree with the system of record, which wins.

        `confirmed` are the sales the system of record has confirmed for this shard;
        `active_hold_ids` are the holds it knows of with a pending or confirmed reservation.
        A sale here that the system of record does not know is cancelled; a confirmed sale
        that is missing here is forced in, breaking any hold that stands in its way."""
        now = self._clock.now()
        active = set(active_hold_ids)
        confirmed = list(confirmed)
        active.update(c.hold_id for c in confirmed)
        cancelled = []
        for sale in list(self._sales.values()):
            if sale.id not in active:
                self._unsell(sale, "reconciled", now)
                cancelled.append(sale.id)
        forced: list[str] = []
        broken: list[str] = []
        conflicts: list[str] = []
        for record in confirmed:
            if record.hold_id in self._sales:
                continue
            live = self._holds.get(record.hold_id)
            if live is not None and live.user == record.user_id:
                self._sell(live)
                forced.append(record.hold_id)
                self.events.append(ev.SeatsSold(now, live.id, live.user, live.seat_ids,
                                                live.ga, live.amount))
                continue
            if self._force_sale(record, now, broken, conflicts):
                forced.append(record.hold_id)
        return ReconcileReport(tuple(forced), tuple(cancelled), tuple(broken), tuple(conflicts))

    def _force_sale(
        self, record: ConfirmedSale, now: float, broken: list[str], conflicts: list[str]
    ) -> bool:
        idxs = []
        for sid in record.seat_ids:
            i = self._index.get(sid)
            if i is None or self._state[i] == SOLD:
                conflicts.append(sid)
                continue
            idxs.append(i)
        holder = {i: h for h in self._holds.values() for i in h.seats}
        for i in idxs:
            other = holder.get(i)
            if other is not None and other.id in self._holds:
                self._free_hold(other, "broken", now)
                self.events.append(ev.SeatsReleased(now, other.id, other.user, other.seat_ids,
                                                    other.ga, "reconciled"))
                broken.append(other.id)
        ga = []
        for type_id, q in record.ga:
            tt = self._ga.get(type_id)
            if tt is None:
                conflicts.append(type_id)
                continue
            while tt.available < q:
                victim = next(
                    (h for h in reversed(self._holds.values())
                     if any(t == type_id for t, _ in h.ga)),
                    None,
                )
                if victim is None:
                    break
                self._free_hold(victim, "broken", now)
                self.events.append(ev.SeatsReleased(now, victim.id, victim.user,
                                                    victim.seat_ids, victim.ga, "reconciled"))
                broken.append(victim.id)
            take = min(q, tt.available)
            if take:
                ga.append((type_id, take))
            if take < q:
                conflicts.append(type_id)
        if not idxs and not ga:
            return False
        hold = _Hold(record.hold_id, record.user_id, tuple(idxs),
                     tuple(self._seat_ids[i] for i in idxs), tuple(ga),
                     sum(self._price[i] for i in idxs)
                     + sum(self._ga[t].price * q for t, q in ga), now, now)
        state = self._state
        for i in idxs:
            state[i] = HELD
            self._sec_avail[self._sec_of[i]] -= 1
        self._selector.taken(idxs)
        for type_id, q in ga:
            self._ga[type_id].held += q
        tickets = hold.tickets
        self._holds[hold.id] = hold
        self._users[hold.user] = self._users.get(hold.user, 0) + tickets
        self._available -= tickets
        self._sell(hold)
        self.events.append(ev.SeatsSold(now, hold.id, hold.user, hold.seat_ids, hold.ga,
                                        hold.amount))
        return True

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, Any]:
        """The whole mutable state as plain data (msgpack-ready); `restore` reverses it."""

        def hold_row(h: _Hold) -> tuple[Any, ...]:
            return (h.id, h.user, h.seats, h.ga, h.amount, h.created_at, h.expires_at,
                    h.extensions)

        idem = []
        for (user, key), (fp, outcome, at) in self._idem.items():
            if isinstance(outcome, DomainError):
                encoded: Any = ("e", outcome.code, outcome.message, outcome.details)
            else:
                encoded = ("v", outcome)
            idem.append((user, key, fp, encoded, at))
        return {
            "v": SNAPSHOT_VERSION,
            "policy": policy_to_dict(self.policy),
            "prefix": self.hold_prefix,
            "layout": self._layout_digest,
            "counter": self._counter,
            "state": bytes(self._state),
            "holds": [hold_row(h) for h in self._holds.values()],
            "sales": [hold_row(h) for h in self._sales.values()],
            "closed": [(hid, *record) for hid, record in self._closed.items()],
            "ga": {t.id: [t.held, t.sold] for t in self._ga.values()},
            "idem": idem,
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        if snap.get("v") != SNAPSHOT_VERSION:
            raise InvalidCommand(f"unsupported snapshot version {snap.get('v')!r}")
        if snap["layout"] != self._layout_digest:
            raise InvalidCommand("snapshot was taken over another seat layout")
        self.hold_prefix = snap["prefix"]
        self.policy = HoldPolicy(**snap["policy"])
        self._state = bytearray(snap["state"])
        self._selector.reset(self._state)
        self._counter = snap["counter"]
        self._holds = {}
        self._sales = {}
        self._users = {}
        for type_id, (held, sold) in snap["ga"].items():
            self._ga[type_id].held = held
            self._ga[type_id].sold = sold

        def load(row: Sequence[Any]) -> _Hold:
            hid, user, seats, ga, amount, created, expires, extensions = row
            seats_t = tuple(seats)
            hold = _Hold(hid, user, seats_t, tuple(self._seat_ids[i] for i in seats_t),
                         tuple((t, q) for t, q in ga), amount, created, expires, extensions)
            self._users[user] = self._users.get(user, 0) + hold.tickets
            return hold

        for row in snap["holds"]:
            hold = load(row)
            self._holds[hold.id] = hold
        for row in snap["sales"]:
            sale = load(row)
            self._sales[sale.id] = sale
        self._expiry = [(h.expires_at, h.id) for h in self._holds.values()]
        heapq.heapify(self._expiry)
        self._sec_avail = [self._state.count(AVAILABLE, a, b) for a, b in self._sec_ranges]
        self._available = self._state.count(AVAILABLE) + sum(
            t.available for t in self._ga.values())
        self._closed = {hid: (s, u, at) for hid, s, u, at in snap["closed"]}
        self._closed_log = deque(sorted((at, hid) for hid, (_, _, at) in self._closed.items()))
        self._idem = {}
        for user, key, fp, encoded, at in sorted(snap["idem"], key=lambda row: row[4]):
            outcome: Outcome
            if encoded[0] == "e":
                outcome = error_from_code(encoded[1], encoded[2], encoded[3])
            else:
                outcome = HoldView.from_list(encoded[1])
            self._idem[(user, key)] = (_freeze(fp), outcome, at)
        self.events = []


def _refuse_caller(user: object, key: object) -> None:
    if type(key) is not str or not key or len(key) > 200:
        raise InvalidCommand("an idempotency key of 1 to 200 characters is required")
    raise InvalidCommand("a user id is required")


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
