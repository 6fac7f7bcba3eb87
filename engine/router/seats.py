"""An event's seats over all its shards: named holds that span shards all or nothing,
best-available over several shards, and the per-user ticket limit.

Per-user limit (events over several shards). The user's home shard keeps the user's count in
its ledger. A hold reserves quota there under the hold's digest, at the same time as the hold
is taken: in the same command (`with_quota`) when the hold is on the home shard, otherwise in
a command sent in parallel with it. If the reservation is refused, the router releases the
hold it took meanwhile (and the ledger remembers the refusal, so a retry of the request is
refused again rather than handed the released hold); if the hold is refused, it releases the
reservation. So a hold the router hands out always has its quota, and the common case costs
one round trip. Selling and extending go through the home ledger first: a sale commits the
quota for that one hold (another hold under the same reference, which only a retry after a
lost answer can make, is refused there), an extension extends it. A hold left without quota
(the router died between the two answers, before its undo) can therefore never be sold or
extended, and lapses at its expiry. Every failure leaves the count too high for a while,
never too low: no user ever buys more than the limit.

Best available over several shards. Each shard's answer to a best-available hold carries how
good its best choices of the same filter are after it, for every count (tier, score:
`SeatSelector.best_key`). The router keeps these hints per kind of request, asks the shard
with the best hint, and bounds the request by the next best hint: the shard holds only if
its best is no worse, else it answers with how good it is, and the router asks the next. A
request thus costs one round trip while the hints hold, and takes the best block of all
shards as far as they have told. Hints never heard of are asked for in parallel; those of a
shard this router changed otherwise (named holds, releases), and old ones, are asked for
again in the background.

Transient failures (a shard restarting) are raised unchanged for the caller to retry with
the same key: every command is idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, cast

from engine.core.commands import (
    BestHold,
    BestKey,
    CancelSale,
    Confirm,
    Extend,
    Hold,
    HoldBest,
    HoldCommand,
    HoldGa,
    Placed,
    QuotaCommit,
    QuotaExtend,
    QuotaRelease,
    QuotaReserve,
    Release,
    SeatOp,
    WithQuota,
)
from engine.core.errors import (
    DomainError,
    HoldExpired,
    HoldNotFound,
    HoldReleased,
    InvalidCommand,
    NotEnoughSeats,
    NotTheBest,
    QuotaNotFound,
    UnknownSeat,
    UnknownSection,
    UnknownTicketType,
    UserLimitExceeded,
)
from engine.core.ids import HoldId, HoldPart, hold_digest, join_parts, seat_section, shard_of
from engine.core.inventory import HoldView
from engine.core.ledger import home_shard
from engine.router.transport import SeatTransport

QUOTA_GRACE_S = 60.0
"""A quota reservation outlives its hold's longest possible life by this much."""
HINT_MAX_AGE_S = 1.0
"""Hints older than this are asked for again, in the background."""
HINT_REFRESH_S = 0.2
"""The hints of a shard this router changed are asked for again at most this often."""

GONE = (HoldExpired, HoldReleased, HoldNotFound)
"""A part's answer when it is neither held nor sold any more."""

Hint = tuple[int, float] | None
Kind = tuple[int, str | None, str | None]  # (count, section, grade)


R = TypeVar("R")


def _result(outcome: R | DomainError) -> R:
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def combine(views: Sequence[HoldView], status: str) -> HoldView:
    """The parts of one hold, in shard order, as one view."""
    if len(views) == 1:
        return views[0]._replace(status=status)
    return HoldView(
        hold_id=join_parts(v.hold_id for v in views),
        user_id=views[0].user_id,
        seat_ids=tuple(s for v in views for s in v.seat_ids),
        ga=tuple(g for v in views for g in v.ga),
        amount=sum(v.amount for v in views),
        created_at=min(v.created_at for v in views),
        expires_at=min(v.expires_at for v in views),
        extensions=min(v.extensions for v in views),
        status=status,
    )


def _parts(hold: HoldId) -> list[tuple[int, str]]:
    """The (shard, part id) pairs of a hold."""
    return [(p.shard, str(p)) for p in hold.parts]


class SeatRouter:
    def __init__(self, transport: SeatTransport, infos: Sequence[dict[str, Any]], *,
                 clock: Callable[[], float] = time.time,
                 hint_refresh_s: float = HINT_REFRESH_S) -> None:
        """`infos` are what each seat shard's `ready()` reported, in shard order. A shard's
        hints are asked for again at most every `hint_refresh_s`."""
        self._transport = transport
        self._clock = clock
        self._hint_refresh_s = hint_refresh_s
        self._touched: set[int] = set()
        self._refreshers: dict[int, asyncio.Task[None]] = {}
        self.shard_count = len(infos)
        self._owner: dict[str, int] = {}
        for k, info in enumerate(infos):
            for unit in (*info["sections"], *info["ticket_types"]):
                self._owner[unit] = k
        self._grades = [set(info["grades"]) for info in infos]
        order = sorted(range(self.shard_count),
                       key=lambda k: (infos[k]["nearest"] is None, infos[k]["nearest"] or 0.0, k))
        self._order = order
        self._rank = {k: n for n, k in enumerate(order)}
        self._policy = infos[0]["policy"]
        # Per kind of best-available request: shard -> (hint, when it was heard).
        self._hints: dict[Kind, dict[int, tuple[Hint, float]]] = {}
        self._refreshing: set[Kind] = set()
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ holds

    async def hold(self, user: str, seat_ids: Sequence[str], key: str) -> HoldView:
        """Holds named seats, all or nothing, wherever they are."""
        if isinstance(seat_ids, str) or not isinstance(seat_ids, list | tuple) or not seat_ids:
            raise InvalidCommand("seat_ids must be a non-empty list of seat ids")
        groups: dict[int, list[str]] = {}
        for sid in seat_ids:
            k = self._owner.get(seat_section(sid)) if isinstance(sid, str) else None
            if k is None:
                raise UnknownSeat(f"unknown seat {sid!r}", seat_ids=[str(sid)])
            groups.setdefault(k, []).append(sid)
        digest = hold_digest(user, key, "hold", sorted(map(str, seat_ids)))
        parts: dict[int, HoldCommand] = {
            k: Hold(user, tuple(ids), key, str(HoldPart(k, digest))) for k, ids in groups.items()}
        return combine(await self._take(user, key, digest, len(seat_ids), parts), "held")

    async def hold_ga(self, user: str, ticket_type: str, quantity: int, key: str) -> HoldView:
        k = self._owner.get(ticket_type) if isinstance(ticket_type, str) else None
        if k is None:
            raise UnknownTicketType(f"no ticket type {ticket_type!r}", ticket_type=ticket_type)
        if type(quantity) is not int or quantity < 1:
            raise InvalidCommand("quantity must be a positive integer")
        digest = hold_digest(user, key, "hold_ga", ticket_type, quantity)
        part = HoldGa(user, ticket_type, quantity, key, str(HoldPart(k, digest)))
        return (await self._take(user, key, digest, quantity, {k: part}))[0]

    async def hold_best(
        self, user: str, count: int, key: str, section: str | None = None,
        grade: str | None = None,
    ) -> HoldView:
        """Holds the best `count` seats of the event (in a section, of a grade): the best
        block of all shards that have such seats."""
        if section is not None:
            k = self._owner.get(section)
            if k is None:
                raise UnknownSection(f"no section {section!r}", section=section)
            candidates = [k]
        else:
            candidates = [k for k in self._order if (grade is None and self._grades[k])
                          or grade in self._grades[k]]
            if not candidates:
                raise NotEnoughSeats(f"no seats of grade {grade!r}", grade=grade)
        if type(count) is not int or count < 1:
            raise InvalidCommand("count must be a positive integer")
        digest = hold_digest(user, key, "hold_best", count, section, grade)
        if len(candidates) == 1:
            k = candidates[0]
            part = HoldBest(user, count, key, section, grade, str(HoldPart(k, digest)))
            return (await self._take(user, key, digest, count, {k: part}))[0]
        return await self._best_of(user, count, key, section, grade, candidates, digest)

    async def _take(self, user: str, key: str, digest: str, tickets: int,
                    parts: dict[int, HoldCommand]) -> list[HoldView]:
        """Takes every part of a hold (in parallel) with its quota: all or nothing."""
        if self.shard_count == 1:
            ((k, command),) = parts.items()
            view = _result(await self._transport.call(k, command))
            return [view]
        home = home_shard(user, self.shard_count)
        commands: dict[int, SeatOp[Any]] = dict(parts)
        expires = self._quota_expiry()
        if home in parts:
            with_quota = WithQuota(digest, tickets, expires, parts[home])
            if len(parts) == 1:  # the common case: one command, nothing to undo
                view = _result(await self._transport.call(home, with_quota))
                self._touch(commands)
                return [view]
            commands[home] = with_quota
        else:
            commands[home] = QuotaReserve(user, digest, tickets, expires)
        shards = sorted(commands)
        outcomes = dict(zip(shards, await asyncio.gather(
            *(self._transport.call(k, commands[k]) for k in shards), return_exceptions=True),
            strict=True))
        refusals = [o for o in outcomes.values() if isinstance(o, DomainError)]
        if not refusals:
            for outcome in outcomes.values():
                if isinstance(outcome, BaseException):
                    raise outcome
            self._touch(parts)
            return [cast(HoldView, outcomes[k]) for k in sorted(parts)]
        taken: list[HoldView] = [o for k in sorted(parts)
                                 if isinstance(o := outcomes[k], HoldView)]
        unknown = [str(HoldPart(k, digest)) for k in sorted(parts)
                   if isinstance(outcomes[k], BaseException)
                   and not isinstance(outcomes[k], DomainError)]
        await self._undo(user, key, digest, [v.hold_id for v in taken] + unknown)
        limit = [r for r in refusals if isinstance(r, UserLimitExceeded)]
        raise (limit or refusals)[0]

    async def _undo(self, user: str, key: str, digest: str, part_ids: Sequence[str]) -> None:
        """Releases the parts a refused hold took, and its quota, before the refusal is
        told: a buyer who tries again at once finds them free. Best effort: whatever cannot
        be reached now lapses at its expiry."""
        calls: list[Awaitable[Any]] = [
            self._transport.call(shard_of(p), Release(user, p, f"{key}:undo")) for p in part_ids]
        self._touch(shard_of(p) for p in part_ids)
        if self.shard_count > 1:
            calls.append(self._transport.call(home_shard(user, self.shard_count),
                                              QuotaRelease(user, digest)))
        await asyncio.gather(*calls, return_exceptions=True)

    # ------------------------------------------------------------------ best of several shards

    async def _best_of(self, user: str, count: int, key: str, section: str | None,
                       grade: str | None, candidates: list[int], digest: str) -> HoldView:
        kind: Kind = (count, section, grade)
        home = home_shard(user, self.shard_count)
        expires = self._quota_expiry()
        quota: asyncio.Future[Any] | None = None
        view: HoldView | None = None
        refreshed = False
        tried: set[int] = set()  # shards that refused a bound: the next try of one is free
        try:
            while True:
                hints = await self._hints_for(kind, candidates)
                live = [k for k in candidates if hints[k] is not None]
                if not live:
                    if refreshed:
                        break
                    refreshed = True
                    await self._ask_hints(kind, candidates)
                    continue
                untried = [k for k in live if k not in tried]
                best = min(untried or live, key=lambda k: (hints[k], self._rank[k]))
                others = [h for k in live if k != best and (h := hints[k]) is not None]
                # Each shard is asked once under a bound (the best the others have told);
                # once all have refused one, the best of what they told takes no bound.
                bound = min(others) if others and untried else None
                hold = HoldBest(user, count, key, section, grade, str(HoldPart(best, digest)))
                inner: HoldBest | WithQuota = hold
                if best == home:
                    inner = WithQuota(digest, count, expires, hold)
                elif quota is None:
                    quota = asyncio.ensure_future(self._transport.call(
                        home, QuotaReserve(user, digest, count, expires)))
                outcome = await self._transport.call(best, BestHold(bound, inner))
                if isinstance(outcome, Placed):
                    for n, after in enumerate(outcome.after, start=1):
                        self._hint((n, section, grade), best, after)
                    if any(kind[1:] != (section, grade) for kind in self._hints):
                        self._touch([best])  # hints of other filters have moved too
                    view = outcome.view
                    break
                tried.add(best)
                if isinstance(outcome, NotTheBest):
                    found = outcome.details.get("best")
                    self._hint(kind, best, None if found is None else (found[0], found[1]))
                    continue
                if isinstance(outcome, NotEnoughSeats):
                    self._hint(kind, best, None)
                    continue
                raise _result(outcome)
        except BaseException:
            if quota is not None:
                await asyncio.gather(quota, return_exceptions=True)
            raise
        if view is None:
            if quota is not None:
                await asyncio.gather(quota, return_exceptions=True)
            await self._undo(user, key, digest, [])
            raise NotEnoughSeats(f"fewer than {count} seats available", requested=count)
        if quota is not None:
            granted = await quota
            if isinstance(granted, DomainError):
                await self._undo(user, key, digest, [view.hold_id])
                raise granted
        return view

    async def _hints_for(self, kind: Kind, candidates: list[int]) -> dict[int, Hint]:
        known = self._hints.setdefault(kind, {})
        missing = [k for k in candidates if k not in known]
        if missing:
            await self._ask_hints(kind, missing)
        now = time.monotonic()
        if kind not in self._refreshing and any(now - known[k][1] > HINT_MAX_AGE_S
                                                for k in candidates):
            self._refreshing.add(kind)
            self._spawn(self._refresh(kind, candidates))
        return {k: known[k][0] for k in candidates}

    async def _refresh(self, kind: Kind, candidates: list[int]) -> None:
        try:
            await self._ask_hints(kind, candidates)
        finally:
            self._refreshing.discard(kind)

    async def _ask_hints(self, kind: Kind, shards: list[int]) -> None:
        count, section, grade = kind
        answers = await asyncio.gather(
            *(self._transport.call(k, BestKey(count, section, grade)) for k in shards),
            return_exceptions=True)
        for k, answer in zip(shards, answers, strict=True):
            if isinstance(answer, BaseException):
                if k not in self._hints[kind]:  # unreachable: worth asking, once it is back
                    self._hints[kind][k] = ((0, 0.0), 0.0)
                continue
            self._hint(kind, k, None if answer is None else (answer[0], answer[1]))

    def _hint(self, kind: Kind, shard: int, hint: Hint) -> None:
        self._hints.setdefault(kind, {})[shard] = (hint, time.monotonic())

    def _touch(self, shards: Any) -> None:
        """This router changed these shards: their hints are asked for again soon."""
        if self.shard_count == 1 or not self._hints:
            return
        for k in shards:
            self._touched.add(k)
            if k not in self._refreshers:
                self._refreshers[k] = asyncio.ensure_future(self._refresh_shard(k))

    async def _refresh_shard(self, k: int) -> None:
        try:
            while k in self._touched:
                self._touched.discard(k)
                kinds = [kind for kind, known in self._hints.items() if k in known]
                await asyncio.gather(*(self._ask_hints(kind, [k]) for kind in kinds))
                await asyncio.sleep(self._hint_refresh_s)
        finally:
            del self._refreshers[k]

    async def settle(self) -> None:
        """Waits until every background refresh of hints is done."""
        while self._refreshers or self._background:
            await asyncio.gather(*self._refreshers.values(), *self._background,
                                 return_exceptions=True)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ after the hold

    async def confirm(self, user: str, hold_id: str, key: str) -> HoldView:
        """Sells a live hold. Its quota is committed first (for this hold only), so a crash
        here never frees it and a hold without quota is never sold."""
        hold = HoldId.parse(hold_id, self.shard_count)
        parts = _parts(hold)
        if self.shard_count > 1:
            committed = await self._transport.call(
                self._home(user), QuotaCommit(user, hold.quota_ref, hold_id))
            if isinstance(committed, QuotaNotFound):
                raise HoldExpired("this hold has no quota left: it can no longer be bought",
                                  hold_id=hold_id)
            _result(committed)
        sold: list[HoldView] = []
        for n, (k, part) in enumerate(parts):
            outcome = await self._transport.call(k, Confirm(user, part, key))
            if isinstance(outcome, DomainError):
                undone = await asyncio.gather(
                    *(self._transport.call(shard_of(view.hold_id),
                                           CancelSale(user, view.hold_id, f"{key}:undo"))
                      for view in sold), return_exceptions=True)
                all_undone = all(isinstance(u, HoldView) for u in undone)
                if (all_undone and (sold or isinstance(outcome, GONE))
                        and not await self._any_sold(parts[n + 1:])):
                    await self._release_quota(user, hold)
                raise outcome
            sold.append(outcome)
        return combine(sold, "sold")

    async def _any_sold(self, parts: Sequence[tuple[int, str]]) -> bool:
        """Whether any of these parts may be sold (an earlier sale of the hold, partly
        refunded): its quota must then stay. A part that cannot be read may be."""
        views = await asyncio.gather(*(self._transport.hold_info(k, part) for k, part in parts),
                                     return_exceptions=True)
        return any((isinstance(v, BaseException) and not isinstance(v, DomainError))
                   or (isinstance(v, HoldView) and v.status == "sold") for v in views)

    async def release(self, user: str, hold_id: str, key: str) -> HoldView:
        return await self._each_part(user, hold_id, key, Release, "released")

    async def cancel_sale(self, user: str, hold_id: str, key: str) -> HoldView:
        """Puts a sale's seats back on sale (refunds, compensations)."""
        return await self._each_part(user, hold_id, key, CancelSale, "cancelled")

    async def extend(self, user: str, hold_id: str, key: str, seconds: float | None = None
                     ) -> HoldView:
        hold = HoldId.parse(hold_id, self.shard_count)
        parts = _parts(hold)
        if self.shard_count > 1:
            longest = self._clock() + self._policy["extension"] + QUOTA_GRACE_S
            _result(await self._transport.call(
                self._home(user), QuotaExtend(user, hold.quota_ref, longest)))
        views = await asyncio.gather(*(self._transport.call(k, Extend(user, part, key, seconds))
                                       for k, part in parts))
        return combine([_result(v) for v in views], "held")

    async def _each_part(self, user: str, hold_id: str, key: str,
                         op: type[Release] | type[CancelSale], status: str) -> HoldView:
        """Ends every part; the quota goes only once no part is left held or sold."""
        hold = HoldId.parse(hold_id, self.shard_count)
        parts = _parts(hold)
        outcomes = await asyncio.gather(*(self._transport.call(k, op(user, part, key))
                                          for k, part in parts))
        views = [o for o in outcomes if not isinstance(o, DomainError)]
        if not views:
            raise next(o for o in outcomes if isinstance(o, DomainError))
        self._touch(k for k, _ in parts)
        if all(isinstance(o, (HoldView, *GONE)) for o in outcomes):
            await self._release_quota(user, hold)
        return combine(views, status)

    async def _release_quota(self, user: str, hold: HoldId) -> None:
        if self.shard_count > 1:
            _result(await self._transport.call(self._home(user),
                                               QuotaRelease(user, hold.quota_ref)))

    # ------------------------------------------------------------------ reads

    async def hold_part_views(self, hold_id: str) -> list[tuple[int, HoldView]]:
        """Each part of a hold with the shard that has it."""
        hold = HoldId.parse(hold_id, self.shard_count)
        parts = _parts(hold)
        views = await asyncio.gather(*(self._transport.hold_info(k, part) for k, part in parts))
        return [(k, _result(view)) for (k, _), view in zip(parts, views, strict=True)]

    async def hold_info(self, hold_id: str) -> HoldView:
        views = [view for _, view in await self.hold_part_views(hold_id)]
        return combine(views, views[0].status)

    async def broadcast(self, command: SeatOp[R]) -> list[R]:
        """One command to every seat shard (settings changes); raises the first refusal."""
        outcomes = await asyncio.gather(*(self._transport.call(k, command)
                                          for k in range(self.shard_count)))
        return [_result(outcome) for outcome in outcomes]

    async def availability(self) -> dict[str, Any]:
        """Counts per section and grade and per ticket type, over all shards."""
        parts = await asyncio.gather(*(self._transport.availability(k)
                                       for k in range(self.shard_count)))
        merged: dict[str, Any] = {"sections": {}, "ticket_types": {}, "totals": {}}
        for part in parts:
            merged["sections"].update(part["sections"])
            merged["ticket_types"].update(part["ticket_types"])
            for name, value in part["totals"].items():
                merged["totals"][name] = merged["totals"].get(name, 0) + value
        return merged

    async def seat_states(self) -> dict[str, int]:
        """Every seat's status: 0 available, 1 held, 2 sold."""
        parts = await asyncio.gather(
            *(self._transport.seat_states(k) for k in range(self.shard_count)))
        return {sid: state for ids, states in parts
                for sid, state in zip(ids, states, strict=True)}

    # ------------------------------------------------------------------ plumbing

    def _home(self, user: str) -> int:
        return home_shard(user, self.shard_count)

    def _quota_expiry(self) -> float:
        return self._clock() + float(self._policy["ttl"]) + QUOTA_GRACE_S

    async def close(self) -> None:
        for task in [*self._background, *self._refreshers.values()]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
