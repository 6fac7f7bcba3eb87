"""The order in which a sale touches PostgreSQL and the shard (what the saga does): a pending
reservation for the hold, then the shard's confirm, then the reservation CONFIRMED."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from engine.core.errors import DomainError
from engine.core.inventory import HoldView
from engine.store import reservations_repo, users_repo
from engine.store.records import ItemSpec


async def new_user(conn: asyncpg.Connection, name: str) -> str:
    email = f"{name}-{uuid4().hex}@example.com"
    user = await users_repo.create_user(conn, email=email, password_hash="x", name=name)
    return str(user.id)


def items_of(view: HoldView, shard: int, prices: dict[str, int] | None = None) -> list[ItemSpec]:
    each = view.amount // max(1, view.tickets)
    items = [ItemSpec(shard=shard, hold_id=view.hold_id, price=each, seat_id=s)
             for s in view.seat_ids]
    items += [ItemSpec(shard=shard, hold_id=view.hold_id, price=each, ticket_type_id=t,
                       quantity=q) for t, q in view.ga]
    return items


async def sell(
    conn: asyncpg.Connection,
    *,
    event_id: UUID,
    view: HoldView,
    shard: int,
    confirm: Callable[[], Awaitable[Any]],
) -> Any:
    """Records the pending reservation, confirms in the shard, and marks it CONFIRMED (or
    FAILED if the shard refused)."""
    reservation = await reservations_repo.create_pending(
        conn, user_id=UUID(view.user_id), event_id=event_id, items=items_of(view, shard),
        expires_at=datetime.now(UTC) + timedelta(minutes=10))
    outcome = await confirm()
    status = "FAILED" if isinstance(outcome, DomainError) else "CONFIRMED"
    await reservations_repo.transition(conn, reservation.id, status)
    return outcome
