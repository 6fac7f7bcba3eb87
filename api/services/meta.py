"""The root app (route prefix "/"): the OpenAPI document, the JWKS at its well-known path,
health, and JSON 404s for every path no service claims."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.context import ApiContext
from api.openapi import document
from api.routing import Call, Endpoint
from api.security.keys import jwks

_DOC: dict[str, Any] = {}


def all_endpoints() -> Sequence[Endpoint]:
    from api.catalog import ENDPOINTS

    return ENDPOINTS


async def openapi(call: Call[ApiContext]) -> Any:
    if not _DOC:
        from engine import __version__

        _DOC.update(document(all_endpoints(), title="TIKETI engine API", version=__version__))
    return _DOC


async def well_known_jwks(call: Call[ApiContext]) -> Any:
    return jwks(call.ctx.tokens.verification)


async def health(call: Call[ApiContext]) -> Any:
    return {"status": "ok"}


ENDPOINTS = [
    Endpoint("GET", "/api/v1/openapi.json", openapi, "This API's OpenAPI 3.1 document", "meta",
             auth="public", rate_limited=False),
    Endpoint("GET", "/.well-known/jwks.json", well_known_jwks,
             "Public keys (JWKS) that verify access tokens", "meta", auth="public",
             rate_limited=False),
    Endpoint("GET", "/healthz", health, "Liveness", "meta", auth="public", rate_limited=False),
]
