"""The commands a shard applies, one frozen type each, named once here.

A command's fields are its arguments, in the order its state method takes them. The type
parameter is what the command answers with (besides the DomainError it may be refused with),
so a caller of `transport.call(shard, Confirm(...))` is checked against `HoldView`.

The wire form (between callers and shards, and in the journal) is msgpack's array
`[tag, *fields]`, written and read by msgspec: the same bytes as the `(op, *args)` tuples of
the journal's first format, so entries written before commands were typed decode unchanged
(`engine.core.command_wire`)."""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

import msgspec

from engine.core.inventory import HoldPolicy, HoldView
from engine.core.ledger import Quota
from engine.core.waiting_room import QueuePolicy, QueueStatus, TickResult

R = TypeVar("R", covariant=True)

Bound = tuple[int, float]
"""How good a best-available choice is (tier, score): smaller is better."""


class Placed(NamedTuple):
    """A best-available hold taken under a bound (`BestHold`), with how good the shard's
    best choices of the same filter are after it, for counts 1, 2, ... (the router's hints;
    None: nothing left of that count)."""

    view: HoldView
    after: tuple[Bound | None, ...]


class SeatOp(msgspec.Struct, Generic[R], frozen=True, array_like=True):
    """A command to a seat shard, answered with an R."""


class QueueOp(msgspec.Struct, Generic[R], frozen=True, array_like=True):
    """A command to a queue shard, answered with an R."""


# ---------------------------------------------------------------- seat shard: holds


class Hold(SeatOp[HoldView], frozen=True, tag="hold"):
    """Holds these seats, all or none."""

    user: str
    seat_ids: tuple[str, ...]
    key: str
    hold_id: str | None = None


class HoldBest(SeatOp[HoldView], frozen=True, tag="hold_best"):
    """Holds the best `count` seats together (in a section, of a grade)."""

    user: str
    count: int
    key: str
    section: str | None = None
    grade: str | None = None
    hold_id: str | None = None


class HoldGa(SeatOp[HoldView], frozen=True, tag="hold_ga"):
    """Holds `quantity` general-admission tickets of a type."""

    user: str
    ticket_type: str
    quantity: int
    key: str
    hold_id: str | None = None


class _OnHold(SeatOp[HoldView], frozen=True):
    user: str
    hold_id: str
    key: str


class Release(_OnHold, frozen=True, tag="release"):
    pass


class Confirm(_OnHold, frozen=True, tag="confirm"):
    """Sells a live hold."""


class CancelSale(_OnHold, frozen=True, tag="cancel_sale"):
    """Puts a sale's seats back on sale (refunds, compensations)."""


class Extend(_OnHold, frozen=True, tag="extend"):
    seconds: float | None = None


class Sweep(SeatOp[list[str]], frozen=True, tag="sweep"):
    """Ends the holds and quota reservations that have expired; answers the holds ended."""


class SetHoldPolicy(SeatOp[None], frozen=True, tag="set_policy"):
    policy: HoldPolicy


# ---------------------------------------------------------------- seat shard: the ledger


class _OnQuota(SeatOp[Quota], frozen=True):
    user: str
    ref: str


class QuotaReserve(_OnQuota, frozen=True, tag="quota_reserve"):
    count: int
    expires_at: float


class QuotaExtend(_OnQuota, frozen=True, tag="quota_extend"):
    expires_at: float


class QuotaCommit(_OnQuota, frozen=True, tag="quota_commit"):
    hold_id: str | None = None


class QuotaRelease(SeatOp[int], frozen=True, tag="quota_release"):
    user: str
    ref: str


HoldCommand = Hold | HoldBest | HoldGa


class WithQuota(SeatOp[HoldView], frozen=True, tag="with_quota"):
    """A hold and its user's quota on this (the user's home) shard, both or neither."""

    ref: str
    tickets: int
    expires_at: float
    inner: HoldCommand


class BestHold(SeatOp[Placed], frozen=True, tag="best_hold"):
    """`inner` if this shard's best seats are no worse than `bound` (another shard's best),
    else NotTheBest with this shard's best, changing nothing."""

    bound: Bound | None
    inner: HoldBest | WithQuota


class BestKey(SeatOp[Bound | None], frozen=True, tag="best_key"):
    """How good this shard's best choice of `count` seats is (a read: never journaled)."""

    count: int
    section: str | None = None
    grade: str | None = None


SeatCommand = (Hold | HoldBest | HoldGa | Extend | Release | Confirm | CancelSale | Sweep
               | SetHoldPolicy | QuotaReserve | QuotaExtend | QuotaCommit | QuotaRelease
               | WithQuota | BestHold | BestKey)


# ---------------------------------------------------------------- queue shard


class Join(QueueOp[QueueStatus], frozen=True, tag="join"):
    user: str


class Heartbeat(QueueOp[bool], frozen=True, tag="heartbeat"):
    user: str


class HeartbeatMany(QueueOp[int], frozen=True, tag="heartbeat_many"):
    """Heartbeats of many waiting users; answers how many changed state."""

    users: tuple[str, ...]


class Leave(QueueOp[QueueStatus], frozen=True, tag="leave"):
    user: str


class Complete(QueueOp[QueueStatus], frozen=True, tag="complete"):
    user: str


class Tick(QueueOp[TickResult], frozen=True, tag="tick"):
    """Opens the sale when due, drops silent waiters, ends timed-out sessions, admits."""


class CloseQueue(QueueOp[None], frozen=True, tag="close"):
    pass


class SetQueuePolicy(QueueOp[None], frozen=True, tag="set_policy"):
    policy: QueuePolicy
    opens_at: float | None = None


QueueCommand = (Join | Heartbeat | HeartbeatMany | Leave | Complete | Tick | CloseQueue
                | SetQueuePolicy)

Command = SeatCommand | QueueCommand
