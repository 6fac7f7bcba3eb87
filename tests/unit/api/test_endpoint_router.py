"""The declared endpoints' own router: it picks the handler Starlette would, and leaves every
other request (another method, an unknown path, a WebSocket) to the Starlette app; and the
request readers it gives handlers, which read what Starlette's would."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from api.errors import Unprocessable
from api.routing import (
    Endpoint,
    EndpointRouter,
    RequestApp,
    header,
    parse_query,
    query_values,
)
from api.schemas import QuerySchema


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


async def _call(app: Any, method: str, path: str, *, root: str = "", kind: str = "http",
                headers: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": kind, "method": method, "path": root + path, "root_path": root,
             "headers": headers or [], "query_string": b""}
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
    return EndpointRouter(fallback, routes, _error, max_bytes=100)


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
                            _error, max_bytes=100)
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
    assert (b"x-content-type-options", b"nosniff") in sent[0]["headers"]


async def test_answers_carry_the_security_headers_without_overriding_the_handlers() -> None:
    async def cached(request: Request) -> Response:
        return Response(b"{}", headers={"cache-control": "public, max-age=60"})

    router = EndpointRouter(Fallback(), [
        Route("/", RequestApp(cached), methods=["GET"]),
        Route("/plain", RequestApp(_handler("plain", [])), methods=["GET"])], _error,
        max_bytes=100)
    first = dict((await _call(router, "GET", "", root="/api/v1/things"))[0]["headers"])
    assert first[b"cache-control"] == b"public, max-age=60"
    assert first[b"x-frame-options"] == b"DENY"
    plain = dict((await _call(router, "GET", "/plain"))[0]["headers"])
    assert plain[b"cache-control"] == b"no-store"
    assert plain[b"content-security-policy"] == b"default-src 'none'; frame-ancestors 'none'"


async def test_a_declared_body_over_the_limit_is_refused_before_the_handler() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    router = _router(seen, Fallback())
    sent = await _call(router, "PUT", "/items/1", headers=[(b"content-length", b"101")])
    assert sent[0]["status"] == 413 and seen == []
    sent = await _call(router, "PUT", "/items/1", headers=[(b"content-length", b"x")])
    assert sent[0]["status"] == 400 and seen == []
    await _call(router, "PUT", "/items/1", headers=[(b"content-length", b"100")])
    assert seen == [("change", {"item_id": "1"})]


def test_only_endpoint_routes_are_taken() -> None:
    async def plain(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="not an endpoint route"):
        EndpointRouter(Fallback(), [Route("/x", plain)], _error, max_bytes=100)


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


class _Status(QuerySchema):
    ticket: str | None = Field(None, max_length=8)


class _Loose(BaseModel):
    ticket: str | None = None


async def _nothing(call: Any) -> None:
    return None


def _query(model: type[BaseModel], query: bytes) -> Any:
    endpoint = Endpoint("GET", "/x", _nothing, "x", "x", query=model)
    return parse_query(endpoint, Request({"type": "http", "query_string": query,
                                          "headers": []}))


def test_a_frozen_query_asked_again_is_validated_once() -> None:
    first = _query(_Status, b"ticket=abc")
    assert first.ticket == "abc"
    assert _query(_Status, b"ticket=abc") is first
    assert _query(_Status, b"ticket=abd").ticket == "abd"
    for _ in range(2):  # a refused query is refused every time
        with pytest.raises(Unprocessable):
            _query(_Status, b"ticket=far-too-long")
    loose = _query(_Loose, b"ticket=abc")
    assert loose.ticket == "abc" and _query(_Loose, b"ticket=abc") is not loose
