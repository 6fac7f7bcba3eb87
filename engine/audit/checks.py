"""The audit's rules over plain data: what PostgreSQL holds for an event and what each of its
seat shards holds durably. No I/O; ids are strings, times are seconds since the epoch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.core.reservation import ReservationStatus

DOUBLE_BOOKED_SEAT = "double_booked_seat"
CONFIRMED_WITHOUT_PAYMENT = "confirmed_without_payment"
PAYMENT_WITHOUT_SALE = "payment_without_sale"
SHARD_SOLD_NOT_IN_DB = "shard_sold_not_in_db"
DB_SOLD_NOT_IN_SHARD = "db_sold_not_in_shard"
STALE_HOLD = "stale_hold"
SHARD_UNREADABLE = "shard_unreadable"
KINDS = (
    DOUBLE_BOOKED_SEAT, CONFIRMED_WITHOUT_PAYMENT, PAYMENT_WITHOUT_SALE, SHARD_SOLD_NOT_IN_DB,
    DB_SOLD_NOT_IN_SHARD, STALE_HOLD, SHARD_UNREADABLE,
)

# A payment took money when it was approved and has not been fully refunded since.
_CAPTURED = frozenset({"DONE", "PARTIAL_CANCELED"})


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str


@dataclass(frozen=True)
class SeatItem:
    """An active seat item of a reservation, with the reservation's status."""

    reservation_id: str
    seat_id: str
    shard: int
    hold_id: str
    status: str


@dataclass(frozen=True)
class ReservationRow:
    id: str
    status: str
    total_amount: int


@dataclass(frozen=True)
class PaymentRow:
    id: str
    reservation_id: str
    amount: int
    status: str
    balance_amount: int | None

    @property
    def refunded(self) -> bool:
        return self.status == "CANCELED" or self.balance_amount == 0


@dataclass(frozen=True)
class LiveHold:
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    tickets: int
    expires_at: float


@dataclass(frozen=True)
class ShardView:
    """A seat shard as its journal makes it: sold seats (seat id → hold id) and live holds.
    `error` says why it could not be rebuilt; the rest is then empty."""

    shard: int
    sold: Mapping[str, str] = field(default_factory=dict)
    holds: tuple[LiveHold, ...] = ()
    seq: int = 0
    snapshot_seq: int = 0
    replayed: int = 0
    started: bool = True
    error: str | None = None


@dataclass(frozen=True)
class AuditInput:
    event_id: str
    title: str
    shard_count: int
    seat_items: Sequence[SeatItem]
    reservations: Sequence[ReservationRow]
    payments: Sequence[PaymentRow]
    shards: Sequence[ShardView]
    # seat id → reservation ids, as the database's own GROUP BY found them
    duplicate_seats: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditResult:
    event_id: str
    title: str
    audited_at: float
    violations: tuple[Violation, ...]
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.violations


def audit(data: AuditInput, *, now: float, hold_grace_s: float = 30.0) -> AuditResult:
    violations = [
        *double_booked(data.seat_items, data.duplicate_seats),
        *unpaid_confirmations(data.reservations, data.payments),
        *payments_without_sale(data.reservations, data.payments),
        *shard_mismatches(data.seat_items, data.shards, data.shard_count),
        *stale_holds(data.shards, now=now, grace_s=hold_grace_s),
    ]
    return AuditResult(data.event_id, data.title, now, tuple(violations),
                       summarize(data, violations, now=now, hold_grace_s=hold_grace_s))


def double_booked(
    items: Sequence[SeatItem], reported: Mapping[str, Sequence[str]]
) -> list[Violation]:
    """Seats in more than one active item: found in the items, or reported by the database."""
    holders: dict[str, list[str]] = {}
    for item in items:
        holders.setdefault(item.seat_id, []).append(item.reservation_id)
    for seat_id, reservation_ids in reported.items():
        if len(holders.get(seat_id, ())) < len(reservation_ids):
            holders[seat_id] = list(reservation_ids)
    return [
        Violation(DOUBLE_BOOKED_SEAT, f"seat {seat_id} is in {len(ids)} active reservation "
                                      f"items (reservations {', '.join(ids)})")
        for seat_id, ids in sorted(holders.items()) if len(ids) > 1
    ]


def unpaid_confirmations(
    reservations: Sequence[ReservationRow], payments: Sequence[PaymentRow]
) -> list[Violation]:
    by_reservation = _payments_by_reservation(payments)
    out = []
    for r in reservations:
        if r.status != ReservationStatus.CONFIRMED:
            continue
        paid = by_reservation.get(r.id, [])
        if any(p.status == "DONE" and p.amount == r.total_amount for p in paid):
            continue
        seen = ", ".join(f"{p.status} {p.amount}" for p in paid) or "none"
        out.append(Violation(CONFIRMED_WITHOUT_PAYMENT,
                             f"reservation {r.id} is CONFIRMED for {r.total_amount} without a "
                             f"DONE payment of that amount (payments: {seen})"))
    return out


def payments_without_sale(
    reservations: Sequence[ReservationRow], payments: Sequence[PaymentRow]
) -> list[Violation]:
    """Money taken and kept for a reservation that is not (or no longer) a sale."""
    status = {r.id: r.status for r in reservations}
    out = []
    for p in payments:
        reservation_status = status.get(p.reservation_id, "missing")
        if (p.status not in _CAPTURED or p.refunded
                or reservation_status == ReservationStatus.CONFIRMED):
            continue
        out.append(Violation(PAYMENT_WITHOUT_SALE,
                             f"payment {p.id} ({p.status}, amount {p.amount}, balance "
                             f"{p.balance_amount}) is not refunded, but its reservation "
                             f"{p.reservation_id} is {reservation_status}"))
    return out


def shard_mismatches(
    items: Sequence[SeatItem], shards: Sequence[ShardView], shard_count: int
) -> list[Violation]:
    """Per shard, the seats it sold against the seats PostgreSQL confirmed, both ways."""
    confirmed: dict[int, dict[str, SeatItem]] = {}
    pending: dict[str, SeatItem] = {}
    for item in items:
        if item.status == ReservationStatus.CONFIRMED:
            confirmed.setdefault(item.shard, {}).setdefault(item.seat_id, item)
        else:
            pending.setdefault(item.seat_id, item)
    views = {v.shard: v for v in shards}
    out = []
    for k in sorted(set(range(shard_count)) | set(confirmed) | set(views)):
        view = views.get(k)
        db = confirmed.get(k, {})
        if view is None and k < shard_count:
            out.append(Violation(SHARD_UNREADABLE, f"shard {k}: its state was not read"))
            continue
        if view is None:
            out.extend(
                Violation(DB_SOLD_NOT_IN_SHARD,
                          f"reservation {item.reservation_id} is CONFIRMED for seat {seat_id} "
                          f"on shard {k}, which the event does not have")
                for seat_id, item in sorted(db.items()))
            continue
        if view.error is not None:
            out.append(Violation(SHARD_UNREADABLE, f"shard {k}: {view.error}"))
            continue
        held = {s: h.hold_id for h in view.holds for s in h.seat_ids}
        for seat_id, hold_id in sorted(view.sold.items()):
            if seat_id in db:
                continue
            note = ""
            if seat_id in pending:
                p = pending[seat_id]
                note = f"; reservation {p.reservation_id} of it is {p.status}"
            out.append(Violation(SHARD_SOLD_NOT_IN_DB,
                                 f"shard {k} sold seat {seat_id} (hold {hold_id}) but "
                                 f"PostgreSQL has no CONFIRMED reservation of it{note}"))
        for seat_id, item in sorted(db.items()):
            if seat_id in view.sold:
                continue
            state = f"holds it (hold {held[seat_id]})" if seat_id in held else "has not sold it"
            out.append(Violation(DB_SOLD_NOT_IN_SHARD,
                                 f"reservation {item.reservation_id} is CONFIRMED for seat "
                                 f"{seat_id} (hold {item.hold_id}) but shard {k} {state}"))
    return out


def stale_holds(shards: Sequence[ShardView], *, now: float, grace_s: float) -> list[Violation]:
    out = []
    for view in shards:
        for h in sorted(view.holds, key=lambda h: (h.expires_at, h.hold_id)):
            if now <= h.expires_at + grace_s:
                continue
            what = ", ".join(h.seat_ids) if h.seat_ids else f"{h.tickets} ticket(s)"
            out.append(Violation(STALE_HOLD,
                                 f"shard {view.shard} hold {h.hold_id} of user {h.user_id} "
                                 f"({what}) expired at {_iso(h.expires_at)}, "
                                 f"{now - h.expires_at:.0f} s ago, and is still live"))
    return out


def summarize(
    data: AuditInput, violations: Sequence[Violation], *, now: float, hold_grace_s: float
) -> dict[str, Any]:
    confirmed: Counter[int] = Counter(
        i.shard for i in data.seat_items if i.status == ReservationStatus.CONFIRMED)
    shards = []
    for view in sorted(data.shards, key=lambda v: v.shard):
        shards.append({
            "shard": view.shard,
            "started": view.started,
            "seq": view.seq,
            "snapshot_seq": view.snapshot_seq,
            "replayed": view.replayed,
            "sold_seats": len(view.sold),
            "confirmed_seats_db": confirmed.get(view.shard, 0),
            "live_holds": len(view.holds),
            "stale_holds": sum(now > h.expires_at + hold_grace_s for h in view.holds),
            "error": view.error,
        })
    return {
        "event_id": data.event_id,
        "title": data.title,
        "audited_at": _iso(now),
        "hold_grace_s": hold_grace_s,
        "shard_count": data.shard_count,
        "reservations": dict(sorted(Counter(r.status for r in data.reservations).items())),
        "payments": dict(sorted(Counter(p.status for p in data.payments).items())),
        "active_seat_items": len(data.seat_items),
        "confirmed_seats_db": sum(confirmed.values()),
        "sold_seats_shards": sum(len(v.sold) for v in data.shards),
        "live_holds": sum(len(v.holds) for v in data.shards),
        "shards": shards,
        "violations": {k: n for k in KINDS if (n := sum(v.kind == k for v in violations))},
    }


def _payments_by_reservation(payments: Sequence[PaymentRow]) -> dict[str, list[PaymentRow]]:
    out: dict[str, list[PaymentRow]] = {}
    for p in payments:
        out.setdefault(p.reservation_id, []).append(p)
    return out


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
