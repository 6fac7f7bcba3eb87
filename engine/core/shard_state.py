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
        match cmd:
            case HoldBest(user, count, key, section, grade, hold_id):
                return inventory.hold_best(user, count, key, section, grade, hold_id), cmd
            case Confirm(user, hold_id, key):
                return inventory.confirm(user, hold_id, key), cmd
            case Hold(user, seat_ids, key, hold_id):
                return inventory.hold(user, seat_ids, key, hold_id), cmd
            case WithQuota():
                return self._with_quota(cmd), cmd
            case BestHold(bound, inner):
                return self._best_hold(bound, inner)
            case Release(user, hold_id, key):
                return inventory.release(user, hold_id, key), cmd
            case QuotaCommit(user, ref, hold_id):
                return self.ledger.commit(user, ref, hold_id), cmd
            case QuotaReserve(user, ref, count, expires_at):
                return self.ledger.reserve(user, ref, count, expires_at), cmd
            case QuotaRelease(user, ref):
                return self.ledger.release(user, ref), cmd
            case HoldGa(user, ticket_type, quantity, key, hold_id):
                return inventory.hold_ga(user, ticket_type, quantity, key, hold_id), cmd
            case Extend(user, hold_id, key, seconds):
                return inventory.extend(user, hold_id, key, seconds), cmd
            case CancelSale(user, hold_id, key):
                return inventory.cancel_sale(user, hold_id, key), cmd
            case QuotaExtend(user, ref, expires_at):
                return self.ledger.extend(user, ref, expires_at), cmd
            case BestKey(count, section, grade):
                return inventory.best_key(count, section, grade), None
            case Sweep():
                ended = inventory.sweep()
                self.ledger.sweep()
                return ended, cmd
            case SetHoldPolicy(policy):
                inventory.set_policy(policy)
                self.ledger.limit = policy.user_limit
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
            match cmd:
                case HeartbeatMany(users):
                    moved = room.heartbeat_many(users)
                    return len(moved), HeartbeatMany(tuple(moved)) if moved else None
                case Join(user):
                    return room.join(user), cmd
                case Heartbeat(user):
                    changed = room.heartbeat(user)
                    return changed, cmd if changed else None
                case Tick():
                    result = room.tick()
                    return result, cmd if result.changed else None
                case Leave(user):
                    return room.leave(user), cmd
                case Complete(user):
                    return room.complete(user), cmd
                case CloseQueue():
                    room.close()
                    return None, cmd
                case SetQueuePolicy(policy, opens_at):
                    room.set_policy(policy, opens_at)
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
