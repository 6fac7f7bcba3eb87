"""The declared endpoints' own router: it picks the handler Starlette would, and leaves every
other request (another method, an unknown path, a WebSocket) to the Starlette app; and the
request readers it gives handlers, which read what Starlette's would."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from api.routing import EndpointRouter, RequestApp, header, query_values


def _handler(name: str, seen: list[tuple[str, dict[str, Any]]]) -> Any:
    async def handle(request: Request) -> Response:
        seen.append((name, dict(request.path_params)))
        return JSONResponse({"by": name})

    return handle


class Fallback:
    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 405, "headers": []})
            await send({"type": "http.response.body", "body": b"fallback"})


async def _call(app: Any, method: str, path: str, *, root: str = "",
                kind: str = "http") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": kind, "method": method, "path": root + path, "root_path": root,
             "headers": [], "query_string": b""}
    await app(scope, receive, send)
    return sent


async def _error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": type(exc).__name__}, status_code=500)


def _router(seen: list[tuple[str, dict[str, Any]]], fallback: Fallback) -> EndpointRouter:
    routes = [
        Route("/items/my", RequestApp(_handler("mine", seen)), methods=["GET"]),
        Route("/items/{item_id}", RequestApp(_handler("one", seen)), methods=["GET"]),
        Route("/items/{item_id}", RequestApp(_handler("change", seen)), methods=["PUT"]),
    ]
    return EndpointRouter(fallback, routes, _error)


async def test_the_first_full_match_is_handled_with_its_path_parameters() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    fallback = Fallback()
    router = _router(seen, fallback)
    sent = await _call(router, "GET", "/items/my", root="/api/v1/things")
    await _call(router, "GET", "/items/42", root="/api/v1/things")
    await _call(router, "PUT", "/items/42")
    await _call(router, "HEAD", "/items/7")
    assert seen == [("mine", {}), ("one", {"item_id": "42"}), ("change", {"item_id": "42"}),
                    ("one", {"item_id": "7"})]
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"by":"mine"}'
    assert fallback.scopes == []


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [("DELETE", "/items/42", "http"), ("GET", "/items/42/more", "http"),
     ("GET", "/other", "http"), ("GET", "/items/42", "websocket"),
     ("GET", "/items/", "http")],
)
async def test_anything_else_goes_to_the_starlette_app(method: str, path: str,
                                                       kind: str) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    fallback = Fallback()
    await _call(_router(seen, fallback), method, path, kind=kind)
    assert seen == []
    assert [s["path"] for s in fallback.scopes] == [path]


async def test_an_unexpected_error_is_answered_then_raised_for_the_server() -> None:
    async def broken(request: Request) -> Response:
        raise LookupError("bug")

    router = EndpointRouter(Fallback(), [Route("/x", RequestApp(broken), methods=["POST"])],
                            _error)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(LookupError):
        await router({"type": "http", "method": "POST", "path": "/x", "root_path": "",
                      "headers": [], "query_string": b""}, receive, send)
    assert sent[0]["status"] == 500
    assert sent[1]["body"] == b'{"error":"LookupError"}'


def test_only_endpoint_routes_are_taken() -> None:
    async def plain(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="not an endpoint route"):
        EndpointRouter(Fallback(), [Route("/x", plain)], _error)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=5), st.text(max_size=5)), max_size=6))
def test_query_values_read_the_query_string_as_starlette_does(
        pairs: list[tuple[str, str]]) -> None:
    query = urlencode(pairs).encode() + (b"&flag" if pairs else b"")
    request = Request({"type": "http", "query_string": query, "headers": []})
    params = request.query_params
    expected = {k: (v if len(v := params.getlist(k)) > 1 else v[0]) for k in params}
    assert query_values(request) == expected


def test_header_reads_the_first_value_of_a_lower_case_name() -> None:
    request = Request({"type": "http", "headers": [(b"x-a", b"1"), (b"authorization", b"B t"),
                                                   (b"x-a", b"2")]})
    assert header(request, b"x-a") == "1"
    assert header(request, b"authorization") == request.headers.get("Authorization")
    assert header(request, b"idempotency-key") is None
