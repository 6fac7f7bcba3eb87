"""Pure-ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on hot paths): security
headers on every HTTP response, and a request-body size limit. `api.routing.EndpointRouter`
does the same for the declared endpoints' requests, with the same functions, before `Guard`."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    # OWASP's REST Security Cheat Sheet set for JSON APIs; the document-only policies
    # (referrer, permissions, cross-origin opener/resource) have nothing to act on here.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]


_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS) | {b"cache-control"}
_ALL_SECURITY = [*SECURITY_HEADERS, (b"cache-control", b"no-store")]


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` plus every security header (and `cache-control: no-store`) they lack."""
    present = {name for name, _ in headers if name in _SECURITY_NAMES}
    if not present:
        return [*headers, *_ALL_SECURITY]
    return [*headers, *((k, v) for k, v in _ALL_SECURITY if k not in present)]


class Guard:
    """One layer in front of each service (each layer costs a hot path a few microseconds):

    - refuses a declared Content-Length over `max_bytes` with 413 before the body is read
      (bodies without a length are counted as they stream, in `api.routing.parse_body`);
    - adds the security headers to every HTTP response;
    - routes a request for the mount point itself (Serve mounts each service at its route
      prefix, so `GET /api/v1/events` reaches the app with an empty path) as "/"."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = at_mount_root(scope)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if await refused_length(scope, send, self.max_bytes):
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def at_mount_root(scope: Scope) -> Scope:
    """The scope, with a request for the mount point itself (`/api/v1/events` in an app
    mounted there) made a request for its root ("/")."""
    root = scope.get("root_path", "")
    if root and scope.get("path") == root:
        return {**scope, "path": root + "/", "raw_path": (root + "/").encode()}
    return scope


async def refused_length(scope: Scope, send: Send, max_bytes: int) -> bool:
    """Answers 413 to a declared Content-Length over `max_bytes` (400 to a malformed one);
    whether it did."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                await _error(send, 400, "BAD_REQUEST", "malformed Content-Length")
                return True
            if length > max_bytes:
                await _error(send, 413, "PAYLOAD_TOO_LARGE",
                             f"the body may not exceed {max_bytes} bytes")
                return True
            break
    return False


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status,
                "headers": with_security_headers(headers)})
    await send({"type": "http.response.body", "body": body})
