"""Endpoints as declarations: method, path, who may call, and the pydantic models of the path
parameters, the query and the body. The same declaration validates each request and generates
the OpenAPI document (`api.openapi`), so the document cannot drift from what is enforced.

A handler receives a `Call` (the validated inputs and the caller) and returns a pydantic model,
a plain JSON-able value, or a Starlette `Response`. A `Call` is typed by the models of its body,
query and path parameters (`Call[ApiContext, ReservationIn]`), and an `Endpoint` by its
handler's: mypy refuses an endpoint whose declared models are not those its handler reads."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import Any, Generic, Literal
from urllib.parse import parse_qsl
from uuid import UUID

from pydantic import BaseModel, ValidationError
from starlette._utils import get_route_path
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from typing_extensions import TypeVar

from api.errors import (
    ApiError,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from api.middleware import at_mount_root, refused_length, with_security_headers
from api.security.tokens import Claims

Auth = Literal["public", "optional", "user", "admin"]
Ctx = TypeVar("Ctx")
BodyT = TypeVar("BodyT", covariant=True, default=None)
QueryT = TypeVar("QueryT", covariant=True, default=None)
ParamsT = TypeVar("ParamsT", covariant=True, default=None)


@dataclass(frozen=True, slots=True)
class Call(Generic[Ctx, BodyT, QueryT, ParamsT]):
    """One request, validated: `body`, `query` and `params` (the path parameters) are
    instances of the endpoint's models, None where it declares none."""

    ctx: Ctx
    request: Request
    path: dict[str, str]
    query: QueryT
    body: BodyT
    user: Claims | None  # None unauthenticated (on "public" and "optional" endpoints)
    subject: str  # whom the rate limit counts: user:<id> or ip:<address>
    params: ParamsT

    @property
    def caller(self) -> Claims:
        """The authenticated caller, whom every "user" and "admin" endpoint has."""
        if self.user is None:
            raise Unauthorized()
        return self.user


AnyCall = Call[Any, Any, Any, Any]
Handler = Callable[[AnyCall], Awaitable[Any]]
Model = BaseModel | None
EBody = TypeVar("EBody", bound=Model, default=Any)
EQuery = TypeVar("EQuery", bound=Model, default=Any)
EParams = TypeVar("EParams", bound=Model, default=Any)


Header = tuple[str, str, bool] | tuple[str, str, bool, Any]
"""A request header: name, description, whether it is required, and optionally the type (an
`Annotated` str) its value is validated against, whose constraints the document shows."""


@dataclass(frozen=True)
class Endpoint(Generic[EBody, EQuery, EParams]):
    method: str
    path: str  # as clients see it, e.g. "/api/v1/events/{event_id}"
    handler: Callable[[Call[Any, EBody, EQuery, EParams]], Awaitable[Any]]
    summary: str
    tag: str
    auth: Auth = "user"
    body: type[EBody] | None = None
    query: type[EQuery] | None = None
    params: type[EParams] | None = None
    """The path parameters' model (`api.schemas.PathSchema`); a path it refuses names nothing
    here (404). Without one, each parameter is a string."""
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    rate_limited: bool = True
    headers: tuple[Header, ...] = ()
    extra_responses: dict[int, str] = field(default_factory=dict)

    def relative(self, prefix: str) -> str:
        """The path inside an app mounted at `prefix`."""
        if prefix in ("", "/"):
            return self.path
        if not self.path.startswith(prefix):
            raise ValueError(f"{self.path} is not under {prefix}")
        return self.path[len(prefix):] or "/"


def path_uuid(call: AnyCall, name: str, what: str) -> UUID:
    """A UUID path parameter; anything else names nothing here (404)."""
    raw = call.path[name]
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"no {what} {raw}") from None


def parse_path(endpoint: Endpoint, request: Request) -> Any:
    if endpoint.params is None:
        return None
    try:
        return endpoint.params.model_validate(request.path_params)
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]
        name = ".".join(str(p) for p in problem["loc"])
        raise NotFound(f"no such {name}: {problem['msg']}",
                       details={"field": name, "problem": problem["msg"]}) from None


def header(conn: HTTPConnection, name: bytes) -> str | None:
    """A request header's value (the first, if repeated), by its lower-case name: a scan of
    the raw headers, without the `Headers` object and the `KeyError` of a missing one."""
    for key, value in conn.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def query_values(request: Request) -> dict[str, str | list[str]]:
    """The query string's parameters, as `request.query_params` reads them (blank values
    kept), a repeated one as the list of its values."""
    raw: dict[str, str | list[str]] = {}
    query: bytes = request.scope.get("query_string", b"")
    if not query:
        return raw
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        known = raw.get(key)
        if known is None:
            raw[key] = value
        elif isinstance(known, list):
            known.append(value)
        else:
            raw[key] = [known, value]
    return raw


QUERIES_KEPT = 10_000
_queries: dict[tuple[type[BaseModel], bytes], BaseModel] = {}
"""Validated queries of frozen models by their query strings: a client polling asks the same
one again and again (a waiting user's status, with its ticket)."""


def parse_query(endpoint: Endpoint, request: Request) -> Any:
    model = endpoint.query
    if model is None:
        raw = query_values(request)
        if raw:
            raise Unprocessable("this endpoint takes no query parameters",
                                details={"fields": sorted(raw)})
        return None
    if not model.model_config.get("frozen"):
        return _validate(model, query_values(request), from_strings=True)
    key = (model, request.scope.get("query_string", b""))
    found = _queries.get(key)
    if found is None:
        found = _validate(model, query_values(request), from_strings=True)
        if len(_queries) >= QUERIES_KEPT:
            _queries.clear()
        _queries[key] = found
    return found


async def parse_body(endpoint: Endpoint, request: Request, max_bytes: int) -> Any:
    if endpoint.body is None:
        return None
    content_type = header(request, b"content-type") or ""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the body may not exceed {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise BadRequest("a JSON body is required", code="BODY_REQUIRED")
    try:
        return endpoint.body.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("the body is not valid JSON", code="INVALID_JSON") from None
        raise _unprocessable(exc) from None


def _validate(model: type[BaseModel], data: dict[str, Any], *, from_strings: bool) -> Any:
    try:
        if from_strings:
            return model.model_validate(data)
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise _unprocessable(exc) from None


def _unprocessable(exc: ValidationError) -> ApiError:
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "problem": e["msg"],
         "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    first = problems[0]
    return Unprocessable(f"{first['field']}: {first['problem']}",
                         details={"problems": problems[:20]})


def render(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        body = result.model_dump_json(by_alias=True).encode()
    else:
        body = json.dumps(result, separators=(",", ":"), default=str).encode()
    return Response(body, status_code=status, media_type="application/json")


RequestHandler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class RequestApp:
    """A request handler as a plain ASGI app. Starlette routes to an ASGI app as it is, where
    it would wrap a function in two more layers (and two more closures per request) for
    exception handlers that a handler made by `api.service.wrap` never leaves to it."""

    __slots__ = ("handle",)

    def __init__(self, handle: RequestHandler) -> None:
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive, send))
        await response(scope, receive, send)


def routes_of(
    endpoints: Sequence[Endpoint],
    prefix: str,
    wrap: Callable[[Endpoint], RequestHandler],
) -> list[Route]:
    """Starlette routes for the endpoints under `prefix`, each wrapped by `wrap`, grouped by
    path in the order the paths first appear."""
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.relative(prefix), []).append(endpoint)
    return [Route(path, RequestApp(wrap(endpoint)), methods=[endpoint.method])
            for path, group in by_path.items() for endpoint in group]


class EndpointRouter:
    """Routes HTTP requests for the declared endpoints straight to their handlers, in the order
    Starlette would (its routes for them come first, in the same order, and the first full
    match wins), without Starlette's two exception middlewares, its router and its route
    wrappers, which cost a hot path more than many handlers do. It does what `Guard` does
    (the mount point's root, the body size limit, the security headers), without wrapping
    `send`. Anything else (WebSockets, lifespan, an unknown path, a known path with another
    method, a missing trailing slash) goes to `app` (`Guard` in front of the Starlette app),
    which answers it as before. A handler's unexpected exception is answered by `on_error`
    and raised again for the server to log, as Starlette does."""

    def __init__(self, app: ASGIApp, routes: Sequence[Route], on_error: ErrorHandler, *,
                 max_bytes: int) -> None:
        self._app = app
        self._on_error = on_error
        self._max_bytes = max_bytes
        self._routes: list[tuple[frozenset[str], Pattern[str], dict[str, Any],
                                 RequestHandler]] = []
        for route in routes:
            if not isinstance(route.app, RequestApp) or not route.methods:
                raise ValueError(f"{route.path} is not an endpoint route")
            self._routes.append((frozenset(route.methods), route.path_regex,
                                 route.param_convertors, route.app.handle))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = at_mount_root(scope)
            path = get_route_path(scope)
            method = scope["method"]
            for methods, regex, convertors, handle in self._routes:
                if method not in methods:
                    continue
                match = regex.match(path)
                if match is None:
                    continue
                if await refused_length(scope, send, self._max_bytes):
                    return
                params = match.groupdict()
                for name, value in params.items():
                    params[name] = convertors[name].convert(value)
                scope["path_params"] = params
                request = Request(scope, receive, send)
                try:
                    response = await handle(request)
                except Exception as exc:
                    response = await self._on_error(request, exc)
                    response.raw_headers = with_security_headers(response.raw_headers)
                    await response(scope, receive, send)
                    raise
                response.raw_headers = with_security_headers(response.raw_headers)
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)
