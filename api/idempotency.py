"""`Idempotency-Key` on POST requests, stored in PostgreSQL so every replica honours it: the
same key and body get the first response again; the same key with another body is refused
(422); a retry while the first attempt still runs is refused (409). A reply that says nothing
final (a 5xx, or a 409 that only says another attempt is running) is not kept, so a retry runs
again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from starlette.responses import Response

from api.context import ApiContext
from api.errors import ApiError, Conflict, Unprocessable, from_refusal
from api.routing import Call
from engine.saga.errors import Refused
from engine.store import idempotency_repo

HEADER = "idempotency-key"
LEASE_S = 60.0
NOT_FINAL = frozenset({"IN_FLIGHT", "PAYMENT_IN_PROGRESS"})
"""Error codes that only say "not now": their replies are not kept."""


def _hash(body: Any) -> str:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _json_response(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json", headers={"Idempotent-Replayed": "true"})


def _conn(call: Call[ApiContext, Any]) -> Any:
    return call.ctx.db.acquire(timeout=call.ctx.settings.payments.db_acquire_timeout_s)


async def idempotent(call: Call[ApiContext, Any], scope: str, status: int,
                     run: Callable[[], Awaitable[BaseModel]]) -> BaseModel | Response:
    key = call.request.headers.get(HEADER)
    if key is None:
        return await run()
    if not 1 <= len(key) <= 200:
        raise Unprocessable("Idempotency-Key must have 1 to 200 characters")
    user = UUID(call.caller.user_id)
    async with _conn(call) as conn:
        claim = await idempotency_repo.claim(conn, scope=scope, user_id=user, key=key,
                                             request_hash=_hash(call.body), lease_s=LEASE_S)
    if claim.outcome == "replay":
        return _json_response(claim.status_code or 200, claim.response)
    if claim.outcome == "mismatch":
        raise Unprocessable("this Idempotency-Key was used with another request body",
                            code="IDEMPOTENCY_KEY_REUSED")
    if claim.outcome == "in_flight":
        raise Conflict("a request with this Idempotency-Key is still being processed",
                       code="REQUEST_IN_FLIGHT")
    try:
        result = await run()
    except (ApiError, Refused) as exc:
        err = exc if isinstance(exc, ApiError) else from_refusal(exc)
        async with _conn(call) as conn:
            if err.status < 500 and err.code not in NOT_FINAL:
                await idempotency_repo.finish(conn, scope=scope, user_id=user, key=key,
                                              status_code=err.status, response=err.body())
            else:
                await idempotency_repo.abandon(conn, scope=scope, user_id=user, key=key)
        raise
    except BaseException:
        async with _conn(call) as conn:
            await idempotency_repo.abandon(conn, scope=scope, user_id=user, key=key)
        raise
    async with _conn(call) as conn:
        await idempotency_repo.finish(conn, scope=scope, user_id=user, key=key,
                                      status_code=status,
                                      response=result.model_dump(mode="json", by_alias=True))
    return result
