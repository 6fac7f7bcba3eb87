"""Stored replies of POSTs with an Idempotency-Key, on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from api.errors import Conflict
from api.idempotency import idempotent
from api.services.payments import PrepareIn
from engine.settings import Settings
from engine.store import idempotency_repo
from engine.store.pool import connect, create_pool
from tests.sales import new_user


@pytest.fixture
async def db(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(database)
    yield conn
    await conn.close()


async def test_a_key_runs_once_then_replays_and_refuses_another_body(
        db: asyncpg.Connection) -> None:
    user = uuid.UUID(await new_user(db, "idem"))
    claim = {"scope": "payments.confirm", "user_id": user, "key": "k1", "lease_s": 60.0}
    assert (await idempotency_repo.claim(db, request_hash="h1", **claim)).outcome == "run"
    assert (await idempotency_repo.claim(db, request_hash="h1", **claim)).outcome == "in_flight"
    assert (await idempotency_repo.claim(db, request_hash="h2", **claim)).outcome == "mismatch"
    await idempotency_repo.finish(db, scope="payments.confirm", user_id=user, key="k1",
                                  status_code=201, response={"id": "x"})
    replay = await idempotency_repo.claim(db, request_hash="h1", **claim)
    assert (replay.outcome, replay.status_code, replay.response) == ("replay", 201, {"id": "x"})
    assert (await idempotency_repo.claim(db, request_hash="h2", **claim)).outcome == "mismatch"
    other_user = uuid.UUID(await new_user(db, "idem2"))
    assert (await idempotency_repo.claim(db, request_hash="h2",
                                         **{**claim, "user_id": other_user})).outcome == "run"


async def test_an_abandoned_attempt_is_taken_over_after_its_lease(
        db: asyncpg.Connection) -> None:
    user = uuid.UUID(await new_user(db, "idem3"))
    claim = {"scope": "payments.prepare", "user_id": user, "key": "k", "request_hash": "h"}
    assert (await idempotency_repo.claim(db, lease_s=60.0, **claim)).outcome == "run"
    await db.execute("UPDATE idempotency_keys SET updated_at = now() - interval '2 minutes' "
                     "WHERE user_id = $1", user)
    assert (await idempotency_repo.claim(db, lease_s=60.0, **claim)).outcome == "run"
    assert (await idempotency_repo.claim(db, lease_s=60.0, **claim)).outcome == "in_flight"
    await idempotency_repo.abandon(db, scope="payments.prepare", user_id=user, key="k")
    assert (await idempotency_repo.claim(db, lease_s=60.0, **claim)).outcome == "run"


async def test_a_refusal_that_only_says_not_now_is_not_kept(database: str,
                                                          db: asyncpg.Connection) -> None:
    """A 409 saying another attempt of the purchase is running is not the request's answer:
    a retry with the same key runs again (and gets the real one)."""
    user = await new_user(db, "idem4")
    pool = await create_pool(database, min_size=1, max_size=2)
    call: Any = SimpleNamespace(
        ctx=SimpleNamespace(db=pool, settings=Settings()), body={"orderId": "o"},
        request=SimpleNamespace(headers={"idempotency-key": "k"}),
        caller=SimpleNamespace(user_id=user))
    answers: list[Any] = [Conflict("busy", code="IN_FLIGHT"),
                          PrepareIn(reservation_id=uuid.UUID(int=1)),
                          Conflict("too late", code="NOT_PAYABLE")]

    async def run() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    try:
        with pytest.raises(Conflict):
            await idempotent(call, "payments.prepare", 201, run)
        first = await idempotent(call, "payments.prepare", 201, run)  # ran again
        assert first == PrepareIn(reservation_id=uuid.UUID(int=1))
        replayed = await idempotent(call, "payments.prepare", 201, run)
        assert getattr(replayed, "status_code", None) == 201 and len(answers) == 1
    finally:
        await pool.close()
