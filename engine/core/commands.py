"""Commands as plain data — `(op, *args)` tuples — applied to a shard's state.

The same function applies a command when it arrives and when a journal is replayed, so a
replay reproduces exactly what was acknowledged. `apply` returns the outcome (a value, or the
DomainError it raised) and the command to journal: None when the command changed nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine.core.errors import DomainError, InvalidCommand
from engine.core.inventory import HoldPolicy, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.waiting_room import QueuePolicy, WaitingRoom

Command = Sequence[Any]
Applied = tuple[Any, Command | None]


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
        try:
            op = cmd[0]
            direct = self._direct.get(op)
            spec = direct or _SEAT_OPS.get(op)
        except (TypeError, IndexError, KeyError):
            spec = None
        if spec is None:
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
    "quota_commit": (lambda s, user, ref: s.ledger.commit(user, ref), 2, 2),
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
