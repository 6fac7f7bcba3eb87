"""Commands as plain data — `(op, *args)` tuples — applied to a shard's state.

The same function applies a command when it arrives and when a journal is replayed, so a
replay reproduces exactly what was acknowledged. `apply` returns the outcome (a value, or the
DomainError it raised) and the command to journal: None when the command changed nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from engine.core.errors import DomainError, InvalidCommand, NotTheBest
from engine.core.inventory import HoldPolicy, HoldView, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.waiting_room import QueuePolicy, WaitingRoom

Command = Sequence[Any]
Applied = tuple[Any, Command | None]

HOLDS = frozenset({"hold", "hold_best", "hold_ga"})


class Placed(NamedTuple):
    """A best-available hold taken under a bound (`best_hold`), with how good the shard's
    best choices of the same filter are after it, for counts 1, 2, ... (the router's hints;
    None: nothing left of that count)."""

    view: HoldView
    after: tuple[tuple[int, float] | None, ...]


class SeatShardState:
    """A seat shard's whole state: its inventory and the ticket ledger of its home users."""

    def __init__(self, inventory: SeatInventory, ledger: TicketLedger) -> None:
        self.inventory = inventory
        self.ledger = ledger
        # The commands that are plain inventory methods are called bound, without a wrapper.
        self._direct: dict[str, tuple[Callable[..., Any], int, int]] = {
            op: (getattr(inventory, op), low, high) for op, (_, low, high) in _SEAT_OPS.items()
            if op in _INVENTORY_METHODS
        }

    def apply(self, cmd: Command) -> Applied:
        op = None
        try:
            op = cmd[0]
            direct = self._direct.get(op)
            spec = direct or _SEAT_OPS.get(op)
        except (TypeError, IndexError, KeyError):
            spec = None
        if spec is None:
            if op == "best_hold" and len(cmd) == 3:
                return self._best_hold(cmd[1], cmd[2])
            if op == "best_key" and 2 <= len(cmd) <= 4:  # a read: nothing to journal
                return self.inventory.best_key(*cmd[1:]), None
            return InvalidCommand(f"unknown seat command {_describe(cmd)}"), None
        handler, low, high = spec
        n = len(cmd) - 1
        if n < low or n > high:
            return InvalidCommand(f"{op} takes {low} to {high} arguments, not {n}"), None
        try:
            if direct is not None:
                return handler(*cmd[1:]), cmd
            return handler(self, *cmd[1:]), cmd
        except DomainError as err:
            return err, cmd

    def with_quota(self, ref: str, tickets: int, expires_at: float, inner: Command) -> Any:
        """A hold and its user's quota on this (the user's home) shard, both or neither: the
        quota is reserved, then the hold taken, and the quota released again if the hold is
        refused."""
        if not isinstance(inner, list | tuple) or not inner or inner[0] not in HOLDS or len(
                inner) < 2:
            raise InvalidCommand("with_quota takes a hold, hold_best or hold_ga command")
        user = inner[1]
        self.ledger.reserve(user, ref, tickets, expires_at)
        outcome, _ = self.apply(inner)
        if isinstance(outcome, DomainError):
            self.ledger.release(user, ref)
            raise outcome
        return outcome

    def _best_hold(self, bound: Any, inner: Command) -> Applied:
        """`inner` (a hold_best, alone or under with_quota) if this shard's best seats are no
        worse than `bound` (another shard's best), else NotTheBest with this shard's best,
        changing nothing. A key already used here replays whatever the bound."""
        try:
            best_cmd = inner[4] if inner[0] == "with_quota" else inner
            op, user, count, key = best_cmd[0], best_cmd[1], best_cmd[2], best_cmd[3]
            section = best_cmd[4] if len(best_cmd) > 4 else None
            grade = best_cmd[5] if len(best_cmd) > 5 else None
        except (TypeError, IndexError, KeyError):
            op = None
        if op != "hold_best":
            return InvalidCommand("best_hold takes a hold_best command"), None
        inventory = self.inventory
        if bound is not None and not inventory.knows(user, key):
            best = inventory.best_key(count, section, grade)
            if best is None or best > tuple(bound):
                return NotTheBest("another shard has better seats", best=best), None
        outcome, journal = self.apply(inner)
        if isinstance(outcome, HoldView):
            return Placed(outcome, tuple(inventory.best_keys(section, grade, count))), journal
        return outcome, journal

    def pull_events(self) -> list[Any]:
        return self.inventory.pull_events()

    def snapshot(self) -> dict[str, Any]:
        return {"inventory": self.inventory.snapshot(), "ledger": self.ledger.snapshot()}

    def restore(self, snap: dict[str, Any]) -> None:
        self.inventory.restore(snap["inventory"])
        self.ledger.restore(snap["ledger"])


_SeatHandler = Callable[..., Any]
_SEAT_OPS: dict[str, tuple[_SeatHandler, int, int]] = {
    "hold": (
        lambda s, user, seats, key, hold_id=None: s.inventory.hold(user, seats, key, hold_id),
        3,
        4,
    ),
    "hold_best": (
        lambda s, user, count, key, section=None, grade=None, hold_id=None: (
            s.inventory.hold_best(user, count, key, section, grade, hold_id)
        ),
        3,
        6,
    ),
    "hold_ga": (
        lambda s, user, tt, qty, key, hold_id=None: s.inventory.hold_ga(
            user, tt, qty, key, hold_id
        ),
        4,
        5,
    ),
    "extend": (
        lambda s, user, hold_id, key, seconds=None: s.inventory.extend(
            user, hold_id, key, seconds
        ),
        3,
        4,
    ),
    "release": (lambda s, user, hold_id, key: s.inventory.release(user, hold_id, key), 3, 3),
    "confirm": (lambda s, user, hold_id, key: s.inventory.confirm(user, hold_id, key), 3, 3),
    "cancel_sale": (
        lambda s, user, hold_id, key: s.inventory.cancel_sale(user, hold_id, key), 3, 3
    ),
    "sweep": (lambda s: (s.inventory.sweep(), s.ledger.sweep())[0], 0, 0),
    "quota_reserve": (
        lambda s, user, ref, count, expires_at: s.ledger.reserve(user, ref, count, expires_at),
        4,
        4,
    ),
    "set_policy": (lambda s, policy: _set_hold_policy(s, policy), 1, 1),
    "quota_extend": (
        lambda s, user, ref, expires_at: s.ledger.extend(user, ref, expires_at), 3, 3
    ),
    "quota_commit": (
        lambda s, user, ref, hold_id=None: s.ledger.commit(user, ref, hold_id), 2, 3),
    "with_quota": (
        lambda s, ref, tickets, expires_at, inner: s.with_quota(ref, tickets, expires_at, inner),
        4,
        4,
    ),

    "quota_release": (lambda s, user, ref: s.ledger.release(user, ref), 2, 2),
}
SEAT_OPS = frozenset(_SEAT_OPS)


def _set_hold_policy(state: SeatShardState, policy: Any) -> None:
    if not isinstance(policy, dict):
        raise InvalidCommand("set_policy takes the policy as a mapping")
    try:
        hold_policy = HoldPolicy(**policy)
    except TypeError as exc:
        raise InvalidCommand(f"bad hold policy: {exc}") from None
    state.inventory.set_policy(hold_policy)
    state.ledger.limit = hold_policy.user_limit
_INVENTORY_METHODS = frozenset(
    {"hold", "hold_best", "hold_ga", "extend", "release", "confirm", "cancel_sale"})


class QueueShardState:
    def __init__(self, room: WaitingRoom) -> None:
        self.room = room

    def apply(self, cmd: Command) -> Applied:
        try:
            op = cmd[0]
            args = cmd[1:]
        except (TypeError, IndexError, KeyError):
            op, args = None, ()
        room = self.room
        try:
            if op == "join" and len(args) == 1:
                return room.join(args[0]), cmd
            if op == "heartbeat" and len(args) == 1:
                changed = room.heartbeat(args[0])
                return changed, cmd if changed else None
            if op == "heartbeat_many" and len(args) == 1:
                users = args[0]
                if not isinstance(users, list | tuple):
                    raise InvalidCommand("heartbeat_many takes a list of user ids")
                moved = room.heartbeat_many(users)
                return len(moved), ("heartbeat_many", moved) if moved else None
            if op == "leave" and len(args) == 1:
                return room.leave(args[0]), cmd
            if op == "complete" and len(args) == 1:
                return room.complete(args[0]), cmd
            if op == "tick" and not args:
                result = room.tick()
                return result, cmd if result.changed else None
            if op == "close" and not args:
                room.close()
                return None, cmd
            if op == "set_policy" and 1 <= len(args) <= 2 and isinstance(args[0], dict):
                try:
                    policy = QueuePolicy(**args[0])
                except TypeError as exc:
                    raise InvalidCommand(f"bad queue policy: {exc}") from None
                room.set_policy(policy, args[1] if len(args) == 2 else None)
                return None, cmd
        except DomainError as err:
            return err, None
        return InvalidCommand(f"unknown queue command {_describe(cmd)}"), None

    def pull_events(self) -> list[Any]:
        return self.room.pull_events()

    def snapshot(self) -> dict[str, Any]:
        return self.room.snapshot()

    def restore(self, snap: dict[str, Any]) -> None:
        self.room.restore(snap)


def _describe(cmd: object) -> str:
    text = repr(cmd)
    return text if len(text) <= 80 else text[:77] + "..."
