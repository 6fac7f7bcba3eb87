"""The one middleware in front of every service: body limit, security headers, mount root."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from api.middleware import SECURITY_HEADERS, Guard


class Recorder:
    def __init__(self, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.scopes: list[Scope] = []
        self.headers = headers or [(b"content-type", b"application/json")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"{}"})


async def _run(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "root_path": "", "headers": [], **scope},
              receive, send)
    return sent


async def test_a_declared_body_over_the_limit_is_refused_before_the_app_runs() -> None:
    inner = Recorder()
    sent = await _run(Guard(inner, max_bytes=10), {"path": "/x",
                                                    "headers": [(b"content-length", b"11")]})
    assert sent[0]["status"] == 413 and not inner.scopes
    assert json.loads(sent[1]["body"])["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert dict(sent[0]["headers"])[b"x-frame-options"] == b"DENY"
    sent = await _run(Guard(inner, max_bytes=10), {"path": "/x",
                                                    "headers": [(b"content-length", b"x")]})
    assert sent[0]["status"] == 400 and not inner.scopes
    await _run(Guard(inner, max_bytes=10), {"path": "/x",
                                            "headers": [(b"content-length", b"10")]})
    assert len(inner.scopes) == 1


async def test_every_response_gets_the_security_headers_without_overriding_the_app() -> None:
    inner = Recorder([(b"content-type", b"application/json"),
                      (b"cache-control", b"public, max-age=5")])
    sent = await _run(Guard(inner, max_bytes=10), {"path": "/x"})
    headers = sent[0]["headers"]
    names = [name for name, _ in headers]
    assert all(names.count(name) == 1 for name, _ in SECURITY_HEADERS)
    assert dict(headers)[b"cache-control"] == b"public, max-age=5"
    sent = await _run(Guard(Recorder(), max_bytes=10), {"path": "/x"})
    assert dict(sent[0]["headers"])[b"cache-control"] == b"no-store"


async def test_the_mount_point_itself_is_routed_as_its_root() -> None:
    inner = Recorder()
    await _run(Guard(inner, max_bytes=10), {"path": "/api/v1/events",
                                            "root_path": "/api/v1/events"})
    assert inner.scopes[0]["path"] == "/api/v1/events/"
