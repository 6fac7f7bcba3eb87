"""A shard's whole state and the one function that applies a command to it.

The same `apply` runs when a command arrives and when a journal is replayed, so a replay
reproduces exactly what was acknowledged. It returns the outcome (a value, or the
DomainError it raised) and the command to journal: None when the command changed nothing."""

from __future__ import annotations

from typing import Any, assert_never

from engine.core.commands import (
    BestHold,
    BestKey,
    CancelSale,
    CloseQueue,
    Complete,
    Confirm,
    Extend,
    Heartbeat,
    HeartbeatMany,
    Hold,
    HoldBest,
    HoldGa,
    Join,
    Leave,
    Placed,
    QueueCommand,
    QuotaCommit,
    QuotaExtend,
    QuotaRelease,
    QuotaReserve,
    Release,
    SeatCommand,
    SetHoldPolicy,
    SetQueuePolicy,
    Sweep,
    Tick,
    WithQuota,
)
from engine.core.errors import DomainError, InvalidCommand, NotTheBest
from engine.core.inventory import HoldView, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.waiting_room import WaitingRoom

Applied = tuple[Any, SeatCommand | QueueCommand | None]


class SeatShardState:
    """A seat shard's inventory and the ticket ledger of its home users."""

    def __init__(self, inventory: SeatInventory, ledger: TicketLedger) -> None:
        self.inventory = inventory
        self.ledger = ledger

    def apply(self, cmd: SeatCommand) -> Applied:
        try:
            return self._apply(cmd)
        except DomainError as err:
            return err, cmd

    def _apply(self, cmd: SeatCommand) -> Applied:
        inventory = self.inventory
        # Class patterns without captured fields: binding them costs more than the rest of
        # the dispatch. The commonest commands come first.
        match cmd:
            case BestHold():
                return self._best_hold(cmd.bound, cmd.inner)
            case HoldBest():
                return inventory.hold_best(cmd.user, cmd.count, cmd.key, cmd.section,
                                           cmd.grade, cmd.hold_id), cmd
            case WithQuota():
                return self._with_quota(cmd), cmd
            case Confirm():
                return inventory.confirm(cmd.user, cmd.hold_id, cmd.key), cmd
            case Hold():
                return inventory.hold(cmd.user, cmd.seat_ids, cmd.key, cmd.hold_id), cmd
            case QuotaCommit():
                return self.ledger.commit(cmd.user, cmd.ref, cmd.hold_id), cmd
            case QuotaReserve():
                return self.ledger.reserve(cmd.user, cmd.ref, cmd.count, cmd.expires_at), cmd
            case Release():
                return inventory.release(cmd.user, cmd.hold_id, cmd.key), cmd
            case QuotaRelease():
                return self.ledger.release(cmd.user, cmd.ref), cmd
            case HoldGa():
                return inventory.hold_ga(cmd.user, cmd.ticket_type, cmd.quantity, cmd.key,
                                         cmd.hold_id), cmd
            case Extend():
                return inventory.extend(cmd.user, cmd.hold_id, cmd.key, cmd.seconds), cmd
            case CancelSale():
                return inventory.cancel_sale(cmd.user, cmd.hold_id, cmd.key), cmd
            case QuotaExtend():
                return self.ledger.extend(cmd.user, cmd.ref, cmd.expires_at), cmd
            case BestKey():
                return inventory.best_key(cmd.count, cmd.section, cmd.grade), None
            case Sweep():
                ended = inventory.sweep()
                self.ledger.sweep()
                return ended, cmd
            case SetHoldPolicy():
                inventory.set_policy(cmd.policy)
                self.ledger.limit = cmd.policy.user_limit
                return None, cmd
        assert_never(cmd)

    def _with_quota(self, cmd: WithQuota) -> HoldView:
        """The quota is reserved, then the hold taken, and the quota released again if the
        hold is refused."""
        user = cmd.inner.user
        self.ledger.reserve(user, cmd.ref, cmd.tickets, cmd.expires_at)
        try:
            view: HoldView
            view, _ = self._apply(cmd.inner)
        except DomainError:
            self.ledger.release(user, cmd.ref)
            raise
        return view

    def _best_hold(self, bound: tuple[int, float] | None, inner: HoldBest | WithQuota
                   ) -> Applied:
        """A key already used here replays whatever the bound."""
        best = inner.inner if isinstance(inner, WithQuota) else inner
        if not isinstance(best, HoldBest):
            return InvalidCommand("best_hold takes a hold_best command"), None
        inventory = self.inventory
        if bound is not None and not inventory.knows(best.user, best.key):
            found = inventory.best_key(best.count, best.section, best.grade)
            if found is None or found > tuple(bound):
                return NotTheBest("another shard has better seats", best=found), None
        outcome, journal = self.apply(inner)
        if isinstance(outcome, HoldView):
            after = tuple(inventory.best_keys(best.section, best.grade, best.count))
            return Placed(outcome, after), journal
        return outcome, journal

    def pull_events(self) -> list[Any]:
        return self.inventory.pull_events()

    def snapshot(self) -> dict[str, Any]:
        return {"inventory": self.inventory.snapshot(), "ledger": self.ledger.snapshot()}

    def restore(self, snap: dict[str, Any]) -> None:
        self.inventory.restore(snap["inventory"])
        self.ledger.restore(snap["ledger"])


class QueueShardState:
    """A queue shard's waiting room."""

    def __init__(self, room: WaitingRoom) -> None:
        self.room = room

    def apply(self, cmd: QueueCommand) -> Applied:
        room = self.room
        try:
            match cmd:  # see SeatShardState._apply
                case Join():
                    return room.join(cmd.user), cmd
                case Heartbeat():
                    changed = room.heartbeat(cmd.user)
                    return changed, cmd if changed else None
                case HeartbeatMany():
                    moved = room.heartbeat_many(cmd.users)
                    return len(moved), HeartbeatMany(tuple(moved)) if moved else None
                case Tick():
                    result = room.tick()
                    return result, cmd if result.changed else None
                case Leave():
                    return room.leave(cmd.user), cmd
                case Complete():
                    return room.complete(cmd.user), cmd
                case CloseQueue():
                    room.close()
                    return None, cmd
                case SetQueuePolicy():
                    room.set_policy(cmd.policy, cmd.opens_at)
                    return None, cmd
        except DomainError as err:
            return err, None
        assert_never(cmd)

    def pull_events(self) -> list[Any]:
        return self.room.pull_events()

    def snapshot(self) -> dict[str, Any]:
        return self.room.snapshot()

    def restore(self, snap: dict[str, Any]) -> None:
        self.room.restore(snap)
