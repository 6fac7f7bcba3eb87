"""Queue service: join, status, leave, and a WebSocket pushing `queue:update` messages.

Joining returns a signed ticket (the place in line). Status and WebSocket updates are
answered from the ticket and the queue's published summary, without calling the actor; once
the summary says the place is no longer waiting, one (batched) actor lookup tells why, and an
admitted user receives the event's access token, which seat and reservation calls require."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from uuid import UUID

from pydantic import Field
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.context import ApiContext, started
from api.errors import ApiError, NotFound, Unprocessable
from api.routing import Call, Endpoint
from api.schemas import QuerySchema, Schema
from api.security.tickets import InvalidTicket, QueueTickets
from api.security.tokens import ACCESS, Claims, InvalidToken
from api.services.queue_board import QueueBoard
from engine.core.waiting_room import QueueStatus, QueueSummary

PREFIX = "/api/v1/queue"
PUSH_EVERY_S = 1.0
KEEPALIVE_EVERY_S = 10.0


class QueueStatusOut(Schema):
    event_id: str
    state: str = Field(description="prequeue, waiting, admitted, left, dropped, done, expired")
    position: int | None = Field(None, description="Users ahead still waiting")
    users_ahead: int | None = None
    eta_seconds: float | None = None
    admitted: bool = False
    access_token: str | None = Field(None, description="Send as X-Event-Access-Token")
    access_expires_at: float | None = None
    ticket: str | None = Field(None, description="Send back on status calls and the socket")
    queue_length: int | None = None
    opens_at: float | None = None
    seed_sha256: str | None = None


class StatusQuery(QuerySchema):
    ticket: str | None = Field(None, max_length=512)


def _event_id(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        raise NotFound(f"no event {raw}") from None


def _board(ctx: ApiContext) -> QueueBoard:
    return started(ctx.queue_board, "the queue board")


def _tickets(ctx: ApiContext) -> QueueTickets:
    return started(ctx.queue_tickets, "the queue tickets")


def _from_summary(event_id: str, summary: QueueSummary | None) -> dict[str, Any]:
    if summary is None:
        return {"event_id": event_id}
    return {"event_id": event_id, "queue_length": summary.waiting + summary.prequeue,
            "opens_at": summary.opens_at, "seed_sha256": summary.seed_commitment}


def _out(ctx: ApiContext, event_id: str, user: Claims, status: QueueStatus,
         summary: QueueSummary | None) -> QueueStatusOut:
    base = _from_summary(event_id, summary)
    extra: dict[str, Any] = {}
    if status.state == "admitted" and status.session_expires_at:
        token = ctx.tokens.issue_event_access(
            user_id=user.user_id, email=user.email, role=user.role, event_id=event_id,
            expires_at=status.session_expires_at)
        extra = {"admitted": True, "access_token": token.token,
                 "access_expires_at": status.session_expires_at}
    ticket = (_tickets(ctx).issue(event_id, user.user_id, status.seq)
              if status.state in ("waiting", "prequeue", "admitted") else None)
    return QueueStatusOut(**base, state=status.state, position=status.position,
                          users_ahead=status.position, eta_seconds=status.eta_s,
                          ticket=ticket, **extra)


async def current(ctx: ApiContext, event_id: str, user: Claims,
                  ticket: str | None) -> QueueStatusOut:
    """The user's status, from the summary when the ticket shows a waiting place."""
    board = _board(ctx)
    board.touch(event_id, user.user_id)
    seq: int | None = None
    if ticket:
        try:
            seq = _tickets(ctx).verify(ticket, event_id=event_id, user_id=user.user_id)
        except InvalidTicket as exc:
            raise Unprocessable(str(exc), code="INVALID_TICKET") from None
    summary = await board.summary(event_id)
    if summary is not None and seq is not None:
        if seq >= 0 and summary.is_waiting(seq):
            position = summary.position(seq) or 0
            return QueueStatusOut(**_from_summary(event_id, summary), state="waiting",
                                  position=position, users_ahead=position,
                                  eta_seconds=round(summary.eta(position), 1), ticket=ticket)
        if seq < 0 and summary.phase == "pre":
            return QueueStatusOut(**_from_summary(event_id, summary), state="prequeue",
                                  ticket=ticket)
    status = board.known(event_id, user.user_id) or await board.lookup(event_id, user.user_id)
    return _out(ctx, event_id, user, status, summary)


async def join(call: Call[ApiContext]) -> QueueStatusOut:
    event_id = _event_id(call.path["event_id"])
    queue = await call.ctx.engine.queue(event_id)
    status = await queue.join(call.caller.user_id)
    board = _board(call.ctx)
    board.remember(event_id, status)
    return _out(call.ctx, event_id, call.caller, status, await board.summary(event_id))


async def status(call: Call[ApiContext, None, StatusQuery]) -> QueueStatusOut:
    return await current(call.ctx, _event_id(call.path["event_id"]), call.caller,
                         call.query.ticket)


async def leave(call: Call[ApiContext]) -> QueueStatusOut:
    event_id = _event_id(call.path["event_id"])
    queue = await call.ctx.engine.queue(event_id)
    status = await queue.leave(call.caller.user_id)
    _board(call.ctx).forget(event_id, call.caller.user_id)
    return _out(call.ctx, event_id, call.caller, status, None)


async def websocket_hint(call: Call[ApiContext]) -> Any:
    raise ApiError("connect with a WebSocket (Upgrade: websocket)", status=426,
                   code="UPGRADE_REQUIRED", headers={"Upgrade": "websocket"})


async def queue_socket(websocket: WebSocket) -> None:
    """Pushes `queue:update` every second while anything changes (and a keep-alive every ten
    seconds otherwise); the update that admits carries the access token, then the socket
    closes. The connection itself counts as the user's heartbeat."""
    ctx: ApiContext = websocket.app.state.ctx
    event_id = websocket.path_params["event_id"]
    token = websocket.query_params.get("token") or websocket.headers.get(
        "authorization", "").removeprefix("Bearer ").strip()
    try:
        event_id = _event_id(event_id)
        user = ctx.verify(token, typ=ACCESS)
    except (InvalidToken, NotFound):
        await websocket.close(code=4401, reason="a valid access token is required")
        return
    if ctx.limiter is not None and not ctx.limiter.hit(f"user:{user.user_id}").allowed:
        await websocket.close(code=4429, reason="rate limited")
        return
    await websocket.accept()
    ticket = websocket.query_params.get("ticket")
    receiver = asyncio.get_running_loop().create_task(_drain(websocket))
    last: dict[str, Any] | None = None
    last_sent = 0.0
    try:
        while not receiver.done():
            try:
                out = await current(ctx, event_id, user, ticket)
            except ApiError as err:
                await websocket.send_json({"type": "error", **err.body()})
                break
            ticket = out.ticket or ticket
            message = {"type": "queue:update", **out.model_dump(by_alias=True)}
            changed = {k: v for k, v in message.items() if k != "etaSeconds"} != last
            if changed or time.monotonic() - last_sent >= KEEPALIVE_EVERY_S:
                await websocket.send_text(json.dumps(message))
                last_sent = time.monotonic()
                last = {k: v for k, v in message.items() if k != "etaSeconds"}
            if out.admitted or out.state in ("left", "dropped", "done", "expired"):
                break
            await asyncio.wait([receiver], timeout=PUSH_EVERY_S)
        if not receiver.done():
            await websocket.close(code=1000)
    except WebSocketDisconnect:
        pass
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver


async def _drain(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends, so a disconnect is noticed at once."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def routes(ctx: ApiContext) -> list[BaseRoute]:
    return [WebSocketRoute("/ws/{event_id}", queue_socket)]


async def start(ctx: ApiContext) -> None:
    board = QueueBoard(ctx)
    await board.start()
    ctx.queue_board = board
    ctx.closers.append(board.close)


ENDPOINTS = [
    Endpoint("GET", f"{PREFIX}/status/{{event_id}}", status,
             "Your place in line (answered from the queue summary)", "queue",
             query=StatusQuery, response=QueueStatusOut, errors=(404,)),
    Endpoint("POST", f"{PREFIX}/join/{{event_id}}", join, "Join an event's waiting room",
             "queue", response=QueueStatusOut, errors=(404, 409)),
    Endpoint("POST", f"{PREFIX}/leave/{{event_id}}", leave, "Leave the line or end your session",
             "queue", response=QueueStatusOut, errors=(404,)),
    Endpoint("GET", f"{PREFIX}/ws/{{event_id}}", websocket_hint,
             "WebSocket: `queue:update` messages (pass `token` and `ticket` as query "
             "parameters); plain HTTP answers 426", "queue", auth="public",
             extra_responses={101: "Switching to the WebSocket protocol",
                              426: "Upgrade required"}),
]
