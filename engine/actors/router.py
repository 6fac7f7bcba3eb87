"""Client-side access to an event's shards, as the API and the benchmarks use them.

`EventSeats` routes seat commands to the shard owning the seats. A hold's id is derived from
the user and the idempotency key (`<shard>.<digest>`, parts joined by `+` when the seats span
shards), so it is known before the hold exists and the same request always names the same
hold. For events split over several shards, the user's home shard keeps the event-wide
ticket count: quota is reserved there before a hold and committed before a confirm, so a
failure in between can only leave the count too high for a while, never too low. Parts of a
hold are taken in shard order; a definitive refusal of a later part undoes the earlier
ones. Transient failures (a shard restarting) are raised unchanged for the caller to retry
with the same key."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ray.exceptions import ActorDiedError

from engine.actors.coalesce import Callers
from engine.actors.directory import EventShards, Handle
from engine.actors.wire import decode_outcomes, encode_commands
from engine.core.errors import (
    DomainError,
    HoldExpired,
    HoldNotFound,
    HoldReleased,
    InvalidCommand,
    NotEnoughSeats,
    QuotaNotFound,
    UnknownSeat,
    UnknownSection,
    UnknownTicketType,
)
from engine.core.inventory import HoldView
from engine.core.ledger import home_shard
from engine.core.waiting_room import QueueStatus, QueueSummary

QUOTA_GRACE_S = 60.0

T = TypeVar("T")


def hold_digest(user: str, key: str) -> str:
    return hashlib.sha256(f"{user}\x00{key}".encode()).hexdigest()[:24]


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


def _result(outcome: Any) -> Any:
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _combine(views: Sequence[HoldView], status: str) -> HoldView:
    if len(views) == 1:
        return views[0]._replace(status=status)
    return HoldView(
        hold_id="+".join(v.hold_id for v in views),
        user_id=views[0].user_id,
        seat_ids=tuple(s for v in views for s in v.seat_ids),
        ga=tuple(g for v in views for g in v.ga),
        amount=sum(v.amount for v in views),
        created_at=min(v.created_at for v in views),
        expires_at=min(v.expires_at for v in views),
        extensions=min(v.extensions for v in views),
        status=status,
    )


class EventSeats:
    def __init__(self, shards: EventShards, infos: Sequence[dict[str, Any]],
                 on_dead: Callable[[], None] | None = None) -> None:
        """`infos` are what each seat shard's `ready()` reported, in shard order. `on_dead`
        is told when a shard has stopped for good (its plan was replaced, or the event
        closed), so the owner can open the event's current shards."""
        self.event_id = shards.event_id
        self.shards = shards
        self._on_dead = on_dead
        self._shards = shards.seats
        self._callers = Callers(shards.seats)
        self.shard_count = len(shards.seats)
        self._owner: dict[str, int] = {}
        for k, info in enumerate(infos):
            for unit in (*info["sections"], *info["ticket_types"]):
                self._owner[unit] = k
        self._grades = [set(info["grades"]) for info in infos]
        self._order = sorted(range(self.shard_count),
                             key=lambda k: (infos[k]["nearest"] is None,
                                            infos[k]["nearest"] or 0.0, k))
        self._policy = infos[0]["policy"]

    # ------------------------------------------------------------------ holds

    async def hold(self, user: str, seat_ids: Sequence[str], key: str) -> HoldView:
        """Holds named seats, all or nothing, wherever they are."""
        if isinstance(seat_ids, str) or not isinstance(seat_ids, list | tuple) or not seat_ids:
            raise InvalidCommand("seat_ids must be a non-empty list of seat ids")
        groups: dict[int, list[str]] = {}
        for sid in seat_ids:
            k = self._owner.get(sid.rsplit("-", 2)[0]) if isinstance(sid, str) else None
            if k is None:
                raise UnknownSeat(f"unknown seat {sid!r}", seat_ids=[str(sid)])
            groups.setdefault(k, []).append(sid)
        digest = hold_digest(user, key)
        await self._reserve_quota(user, digest, len(seat_ids))
        views: list[HoldView] = []
        for k in sorted(groups):
            outcome = await self._call(k, ("hold", user, groups[k], key, f"{k}.{digest}"))
            if isinstance(outcome, DomainError):
                await self._undo_holds(user, key, views, digest)
                raise outcome
            views.append(outcome)
        return _combine(views, "held")

    async def hold_best(
        self, user: str, count: int, key: str, section: str | None = None,
        grade: str | None = None,
    ) -> HoldView:
        """Holds the best `count` adjacent seats; shards are tried nearest first."""
        if section is not None:
            k = self._owner.get(section)
            if k is None:
                raise UnknownSection(f"no section {section!r}", section=section)
            candidates = [k]
        else:
            candidates = [k for k in self._order if grade is None or grade in self._grades[k]]
            if not candidates:
                raise NotEnoughSeats(f"no seats of grade {grade!r}", grade=grade)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InvalidCommand("count must be a positive integer")
        digest = hold_digest(user, key)
        await self._reserve_quota(user, digest, count)
        last: DomainError | None = None
        for k in candidates:
            outcome = await self._call(
                k, ("hold_best", user, count, key, section, grade, f"{k}.{digest}"))
            if not isinstance(outcome, DomainError):
                return outcome  # type: ignore[no-any-return]
            last = outcome
            if not isinstance(outcome, NotEnoughSeats):
                break
        await self._release_quota(user, digest)
        assert last is not None
        raise last

    async def hold_ga(self, user: str, ticket_type: str, quantity: int, key: str) -> HoldView:
        k = self._owner.get(ticket_type) if isinstance(ticket_type, str) else None
        if k is None:
            raise UnknownTicketType(f"no ticket type {ticket_type!r}", ticket_type=ticket_type)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise InvalidCommand("quantity must be a positive integer")
        digest = hold_digest(user, key)
        await self._reserve_quota(user, digest, quantity)
        outcome = await self._call(k, ("hold_ga", user, ticket_type, quantity, key,
                                       f"{k}.{digest}"))
        if isinstance(outcome, DomainError):
            await self._release_quota(user, digest)
            raise outcome
        return outcome  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ after the hold

    async def confirm(self, user: str, hold_id: str, key: str) -> HoldView:
        """Sells a live hold. Quota is committed first, so a crash here never frees it."""
        parts = hold_parts(hold_id, self.shard_count)
        digest = parts[0][1].split(".", 1)[1]
        if self.shard_count > 1:
            with contextlib.suppress(QuotaNotFound):  # then the hold has lapsed too
                _result(await self._call(self._home(user), ("quota_commit", user, digest)))
        sold: list[HoldView] = []
        for k, part in parts:
            outcome = await self._call(k, ("confirm", user, part, key))
            if isinstance(outcome, DomainError):
                for view in sold:
                    await self._call(self._shard_of(view.hold_id),
                                     ("cancel_sale", user, view.hold_id, f"{key}:undo"))
                if sold or isinstance(outcome, HoldExpired | HoldReleased | HoldNotFound):
                    await self._release_quota(user, digest)
                raise outcome
            sold.append(outcome)
        return _combine(sold, "sold")

    async def release(self, user: str, hold_id: str, key: str) -> HoldView:
        return await self._each_part(user, hold_id, key, "release", "released")

    async def cancel_sale(self, user: str, hold_id: str, key: str) -> HoldView:
        """Puts a sale's seats back on sale (refunds, compensations)."""
        return await self._each_part(user, hold_id, key, "cancel_sale", "cancelled")

    async def extend(
        self, user: str, hold_id: str, key: str, seconds: float | None = None
    ) -> HoldView:
        parts = hold_parts(hold_id, self.shard_count)
        if self.shard_count > 1:
            digest = parts[0][1].split(".", 1)[1]
            longest = time.time() + self._policy["extension"] + QUOTA_GRACE_S
            await self._call(self._home(user), ("quota_extend", user, digest, longest))
        views = []
        for k, part in parts:
            views.append(_result(await self._call(k, ("extend", user, part, key, seconds))))
        return _combine(views, "held")

    async def hold_part_views(self, hold_id: str) -> list[tuple[int, HoldView]]:
        """Each part of a hold with the shard that has it."""
        parts = hold_parts(hold_id, self.shard_count)
        return [(k, _result(await self._watch(self._shards[k].hold_info.remote(part))))
                for k, part in parts]

    async def hold_info(self, hold_id: str) -> HoldView:
        parts = hold_parts(hold_id, self.shard_count)
        views = [_result(await self._watch(self._shards[k].hold_info.remote(part)))
                 for k, part in parts]
        return _combine(views, views[0].status)

    async def broadcast(self, cmd: tuple[Any, ...]) -> list[Any]:
        """One command to every seat shard (settings changes); raises the first refusal."""
        outcomes = await asyncio.gather(*(self._call(k, cmd) for k in range(self.shard_count)))
        for outcome in outcomes:
            _result(outcome)
        return list(outcomes)

    # ------------------------------------------------------------------ reads

    async def availability(self) -> dict[str, Any]:
        """Counts per section and grade and per ticket type, over all shards."""
        parts: list[dict[str, Any]] = await self._watch(asyncio.gather(
            *(s.availability.remote() for s in self._shards)))
        merged: dict[str, Any] = {"sections": {}, "ticket_types": {}, "totals": {}}
        for part in parts:
            merged["sections"].update(part["sections"])
            merged["ticket_types"].update(part["ticket_types"])
            for name, value in part["totals"].items():
                merged["totals"][name] = merged["totals"].get(name, 0) + value
        return merged

    async def seat_states(self) -> dict[str, int]:
        """Every seat's status: 0 available, 1 held, 2 sold."""
        parts: list[tuple[list[str], bytes]] = await self._watch(asyncio.gather(
            *(s.seat_states.remote() for s in self._shards)))
        return {sid: state for ids, states in parts for sid, state in zip(ids, states,
                                                                          strict=True)}

    # ------------------------------------------------------------------ plumbing

    async def _call(self, k: int, cmd: tuple[Any, ...]) -> Any:
        try:
            return await self._callers[k].call(cmd)
        except ActorDiedError:
            self._dead()
            raise

    async def _watch(self, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except ActorDiedError:
            self._dead()
            raise

    def _dead(self) -> None:
        if self._on_dead is not None:
            self._on_dead()

    def _home(self, user: str) -> int:
        return home_shard(user, self.shard_count)

    def _shard_of(self, part_id: str) -> int:
        return int(part_id.split(".", 1)[0])

    async def _reserve_quota(self, user: str, digest: str, tickets: int) -> None:
        if self.shard_count > 1:
            expires = time.time() + self._policy["ttl"] + QUOTA_GRACE_S
            _result(await self._call(self._home(user),
                                     ("quota_reserve", user, digest, tickets, expires)))

    async def _release_quota(self, user: str, digest: str) -> None:
        if self.shard_count > 1:
            _result(await self._call(self._home(user), ("quota_release", user, digest)))

    async def _undo_holds(
        self, user: str, key: str, views: Sequence[HoldView], digest: str
    ) -> None:
        for view in views:
            await self._call(self._shard_of(view.hold_id),
                             ("release", user, view.hold_id, f"{key}:undo"))
        await self._release_quota(user, digest)

    async def _each_part(
        self, user: str, hold_id: str, key: str, op: str, status: str
    ) -> HoldView:
        parts = hold_parts(hold_id, self.shard_count)
        views: list[HoldView] = []
        errors: list[DomainError] = []
        for k, part in parts:
            outcome = await self._call(k, (op, user, part, key))
            (errors if isinstance(outcome, DomainError) else views).append(outcome)
        if not views:
            raise errors[0]
        await self._release_quota(user, parts[0][1].split(".", 1)[1])
        return _combine(views, status)


async def call(handle: Handle, cmd: tuple[Any, ...]) -> Any:
    """One command to a shard in the wire form; returns its outcome (value or DomainError)."""
    return (await call_batch(handle, (cmd,)))[0]


async def call_batch(handle: Handle, cmds: Sequence[tuple[Any, ...]]) -> list[Any]:
    # Waiting on the ref's concurrent future costs less than awaiting the ObjectRef itself.
    ref = handle.execute_packed.remote(encode_commands(cmds))
    return decode_outcomes(await asyncio.wrap_future(ref.future()))


class EventQueue:
    """The waiting room of one event, through its queue shard."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle
        self._callers = Callers([handle])

    async def _call(self, cmd: tuple[Any, ...]) -> Any:
        return await self._callers[0].call(cmd)

    async def join(self, user: str) -> QueueStatus:
        return _result(await self._call(("join", user)))  # type: ignore[no-any-return]

    async def leave(self, user: str) -> QueueStatus:
        return _result(await self._call(("leave", user)))  # type: ignore[no-any-return]

    async def complete(self, user: str) -> QueueStatus:
        return _result(await self._call(("complete", user)))  # type: ignore[no-any-return]

    async def heartbeat_many(self, users: Sequence[str]) -> int:
        return _result(  # type: ignore[no-any-return]
            await self._call(("heartbeat_many", list(users))))

    async def command(self, cmd: tuple[Any, ...]) -> Any:
        return _result(await self._call(cmd))

    async def status(self, user: str) -> QueueStatus:
        return await self._handle.status.remote(user)  # type: ignore[no-any-return]

    async def status_many(self, users: Sequence[str]) -> list[QueueStatus]:
        return await self._handle.status_many.remote(list(users))  # type: ignore[no-any-return]

    async def summary(self) -> QueueSummary:
        return await self._handle.summary.remote()  # type: ignore[no-any-return]
