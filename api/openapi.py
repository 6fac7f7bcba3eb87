"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic
schemas: the same objects that validate requests."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from api.routing import Endpoint
from api.schemas import ErrorBody

REF = "#/components/schemas/{model}"
STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Malformed request",
    401: "Not authenticated, or the token is invalid or expired", 403: "Not allowed",
    404: "Not found", 409: "Conflicts with the current state", 413: "Body too large",
    415: "Body must be JSON", 422: "Invalid input", 423: "Account locked",
    429: "Too many requests (see Retry-After)", 503: "A dependency is unavailable",
}
EVENT_ACCESS_HEADER = "X-Event-Access-Token"


def document(endpoints: Sequence[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    for e in endpoints:
        for model in (e.body, e.query, e.response):
            if model is not None:
                models.add(model)
    ordered = sorted(models, key=lambda m: m.__name__)
    keys: list[tuple[type[BaseModel], Any]] = []
    for model in ordered:
        keys.append((model, "validation"))
        keys.append((model, "serialization"))
    refs, defs = models_json_schema(keys, ref_template=REF, by_alias=True)
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "TIKETI engine: waiting room, seats, reservations, payments."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "eventAccess": {"type": "apiKey", "in": "header", "name": EVENT_ACCESS_HEADER,
                                "description": "The access token issued on admission"},
            },
        },
    }


def _operation(e: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": _operation_id(e),
        "summary": e.summary,
        "tags": [e.tag],
    }
    if e.auth in ("user", "admin"):
        op["security"] = [{"bearer": []}]
    elif e.auth == "optional":
        op["security"] = [{}, {"bearer": []}]
    declared = (e.params.model_json_schema(ref_template=REF).get("properties", {})
                if e.params is not None else {})
    params = [{"name": name, "in": "path", "required": True,
               "schema": declared.get(name, {"type": "string"})}
              for name in re.findall(r"{([^}:]+)", e.path)]
    if e.query is not None:
        schema = e.query.model_json_schema(by_alias=True, ref_template=REF)
        needed = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in needed,
                           "schema": prop})
    for name, description, must, *typed in e.headers:
        schema = TypeAdapter(typed[0]).json_schema() if typed else {"type": "string"}
        params.append({"name": name, "in": "header", "required": must,
                       "description": description, "schema": schema})
    if params:
        op["parameters"] = params
    if e.body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": refs[(e.body, "validation")]}}}
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": STATUS_TEXT.get(e.status, "OK")}
    if e.response is not None:
        ok["content"] = {"application/json": {"schema": refs[(e.response, "serialization")]}}
    responses[str(e.status)] = ok
    for status, text in e.extra_responses.items():
        responses[str(status)] = {"description": text}
    errors = set(e.errors) | ({401} if e.auth in ("user", "admin") else set())
    errors |= {403} if e.auth == "admin" else set()
    errors |= {422} if e.body is not None or e.query is not None else set()
    errors |= {400, 413, 415} if e.body is not None else set()
    errors |= {429} if e.rate_limited else set()
    errors.add(503)
    for status in sorted(errors):
        responses[str(status)] = {
            "description": STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
        }
    op["responses"] = responses
    return op


def _operation_id(e: Endpoint) -> str:
    words = re.findall(r"[A-Za-z]+", e.path.removeprefix("/api/v1"))
    return e.method.lower() + "".join(w.capitalize() for w in words)
