"""A direct link to a shard for command batches: one TCP connection per caller process and
shard, length-prefixed frames, many batches in flight, beside the Ray actor.

A Ray actor call costs its caller about 0.3 ms of CPU whatever it carries; a frame on an open
connection costs a few tens of microseconds. So Ray places, restarts and finds the shards,
and the command batches of the hot path go over this link. A shard listens on a port of its
own (on 127.0.0.1, or on its node's address on a cluster) and reports it, with a random
token, in `ready()`, which travels over Ray's authenticated channel; a connection that does
not open with the token is closed. When the connection breaks (the shard restarted), the
caller asks the actor for its new address (`ready()`, which waits until the shard has
restored its state, and raises if it has stopped for good) and sends the unanswered batches
again: every command is idempotent, as with Ray's own retries.

Frames: a header `!IIB` (payload length, request id, kind) and the payload. A request's
payload is a batch in the wire form of `engine.actors.wire`; an answer's is its outcomes
(kind 0) or, when the shard could not apply the batch, a message (kind 1, raised as
`ShardLinkError`)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import struct
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

HEADER = struct.Struct("!IIB")
OK, FAILED = 0, 1
MAX_FRAME = 64 * 1024 * 1024
RECONNECT_PAUSE_S = 0.05


class ShardLinkError(RuntimeError):
    """The shard could not apply a batch (it is restarting): retry with the same keys."""


class LinkLost(ConnectionError):
    """The connection broke before the answer came."""


def new_token() -> str:
    return secrets.token_hex(16)


class LinkServer:
    """The shard's end: answers each batch with `submit`'s outcomes, in arrival order."""

    def __init__(self, submit: Callable[[bytes], Awaitable[bytes]], token: str) -> None:
        self._submit = submit
        self._token = token.encode()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self, host: str) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, 0)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            token = await reader.readexactly(len(self._token))
            if not hmac.compare_digest(token, self._token):
                log.warning("a connection to the shard's link did not give its token")
                return
            while True:
                length, request, _ = HEADER.unpack(await reader.readexactly(HEADER.size))
                if length > MAX_FRAME:
                    return
                payload = await reader.readexactly(length)
                # Tasks start in creation order: batches are applied in arrival order.
                asyncio.get_running_loop().create_task(self._answer(writer, request, payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, request: int, payload: bytes) -> None:
        try:
            body, kind = await self._submit(payload), OK
        except Exception as exc:  # the shard cannot serve now; the caller retries
            body, kind = f"{type(exc).__name__}: {exc}".encode(), FAILED
        if not writer.is_closing():
            writer.write(HEADER.pack(len(body), request, kind) + body)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.next = 0
        self.reader = asyncio.ensure_future(self._read(reader))

    @property
    def open(self) -> bool:
        return not self.writer.is_closing()

    async def send(self, payload: bytes) -> bytes:
        self.next += 1
        request = self.next
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[request] = future
        try:
            self.writer.write(HEADER.pack(len(payload), request, OK) + payload)
            return await future
        finally:
            self.pending.pop(request, None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                length, request, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
                body = await reader.readexactly(length)
                future = self.pending.get(request)
                if future is None or future.done():
                    continue
                if kind == OK:
                    future.set_result(body)
                else:
                    future.set_exception(ShardLinkError(body.decode(errors="replace")))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.writer.close()
            for future in list(self.pending.values()):
                if not future.done():
                    future.set_exception(LinkLost("the connection to the shard broke"))

    async def close(self) -> None:
        self.writer.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


class LinkClient:
    """The caller's end for one shard: sends batches, matches answers by request id, and
    comes back after the shard restarts (`resolve` gives its current address and token).
    A batch the shard could not apply, or whose answer was lost with the connection, is sent
    again once the actor answers `ready()` (it raises if the shard has stopped for good)."""

    def __init__(self, resolve: Callable[[], Awaitable[dict[str, Any]]],
                 info: dict[str, Any]) -> None:
        self._resolve = resolve
        self._info: dict[str, Any] | None = info
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    async def send(self, payload: bytes) -> bytes:
        while True:
            connection: _Connection | None = None
            try:
                connection = await self._connected()
                return await connection.send(payload)
            except (LinkLost, ShardLinkError, OSError) as exc:
                log.info("shard link: %s; sending again once the shard is back", exc)
                if connection is None or self._connection is connection:
                    self._info = None  # ask the actor where it is now, once it is ready
                    self._connection = None
                    if connection is not None:
                        await connection.close()
                await asyncio.sleep(RECONNECT_PAUSE_S)

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and connection.open:
            return connection
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        connection = await asyncio.shield(self._connecting)
        self._connection = connection
        return connection

    async def _connect(self) -> _Connection:
        if self._info is None:
            self._info = await self._resolve()
        host, port = self._info["link"]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(self._info["link_token"].encode())
        return _Connection(reader, writer)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
