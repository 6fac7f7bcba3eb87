"""The OpenAPI document: valid OpenAPI 3.1, covering every endpoint, with request schemas
that judge inputs exactly as the models that validate requests do."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, ValidationError

from api.catalog import ENDPOINTS
from api.openapi import document
from api.services.admin import EventIn
from api.services.auth import RegisterIn
from api.services.seats import LockIn

DOC = document(ENDPOINTS, title="TIKETI", version="test")


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"] == "3.1.0"
    validate(DOC)


def test_every_endpoint_is_documented() -> None:
    documented = {(method.upper(), path) for path, ops in DOC["paths"].items()
                  for method in ops}
    assert documented == {(e.method, e.path) for e in ENDPOINTS}
    seed_paths = {
        "/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh-token",
        "/api/v1/auth/me", "/api/v1/events", "/api/v1/events/{event_id}",
        "/api/v1/seats/events/{event_id}", "/api/v1/queue/join/{event_id}",
        "/api/v1/queue/status/{event_id}", "/api/v1/queue/leave/{event_id}",
        "/api/v1/seats/lock", "/api/v1/reservations", "/api/v1/reservations/my",
        "/api/v1/reservations/{reservation_id}", "/api/v1/reservations/{reservation_id}/cancel",
        "/api/v1/admin/dashboard/stats", "/api/v1/admin/events",
        "/api/v1/admin/events/{event_id}", "/api/v1/admin/reservations",
    }
    assert seed_paths <= set(DOC["paths"])


def test_protected_endpoints_declare_bearer_auth_and_errors() -> None:
    me = DOC["paths"]["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert {"401", "429", "503"} <= set(me["responses"])
    lock = DOC["paths"]["/api/v1/seats/lock"]["post"]
    assert {"400", "413", "415", "422"} <= set(lock["responses"])
    assert any(p["name"] == "X-Event-Access-Token" and p["required"]
               for p in lock["parameters"])


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    for ops in DOC["paths"].values():
        for op in ops.values():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body and body["schema"]["$ref"].endswith(f"/{model.__name__}"):
                return {**body["schema"], "components": DOC["components"], "$defs": {}}
    raise AssertionError(f"{model.__name__} is not a documented request body")


@pytest.mark.parametrize(
    ("model", "sample"),
    [
        (RegisterIn, {"email": "a@b.co", "password": "long enough", "name": "A"}),
        (RegisterIn, {"email": "a@b.co", "password": "short", "name": "A"}),
        (RegisterIn, {"email": "a@b.co", "password": "long enough"}),
        (RegisterIn, {"email": "a@b.co", "password": "long enough", "name": "A", "x": 1}),
        (RegisterIn, {"email": 5, "password": "long enough", "name": "A"}),
        (LockIn, {"eventId": "6f9619ff-8b86-d011-b42d-00cf4fc964ff", "count": 11}),
        (LockIn, {"eventId": "6f9619ff-8b86-d011-b42d-00cf4fc964ff", "seatIds": []}),
        (EventIn, {"title": "T", "category": "c", "startsAt": "2030-01-01T00:00:00Z"}),
    ],
)
def test_documented_schemas_agree_with_validation(model: type[BaseModel],
                                                  sample: dict[str, Any]) -> None:
    schema = _schema(model)
    resolver_doc = {"components": DOC["components"]}
    validator = jsonschema.Draft202012Validator(
        {"$ref": schema["$ref"], **resolver_doc})
    documented_ok = validator.is_valid(sample)
    try:
        model.model_validate(sample, strict=False)
        model_ok = True
    except ValidationError:
        model_ok = False
    if model_ok:
        assert documented_ok, "the document refuses what the API accepts"
    else:
        assert not documented_ok, "the document accepts what the API refuses"


def test_path_parameters_carry_the_constraints_their_models_enforce() -> None:
    layout = DOC["paths"]["/api/v1/seats/events/{event_id}/layout/{digest}"]["get"]
    params = {p["name"]: p for p in layout["parameters"] if p["in"] == "path"}
    assert params["event_id"]["schema"] == {"format": "uuid", "title": "Event Id",
                                            "type": "string"}
    assert params["digest"]["schema"]["pattern"] == "^[0-9a-f]{32}$"
    assert {"200", "304", "404"} <= set(layout["responses"])
    seat_map = DOC["paths"]["/api/v1/seats/events/{event_id}"]["get"]
    assert {p["name"]: p["schema"].get("format") for p in seat_map["parameters"]
            if p["in"] == "path"} == {"event_id": "uuid"}
    undeclared = DOC["paths"]["/api/v1/queue/join/{event_id}"]["post"]
    assert undeclared["parameters"][0]["schema"] == {"type": "string"}


@pytest.mark.parametrize(
    ("digest", "valid"),
    [("0123456789abcdef0123456789abcdef", True), ("0123456789ABCDEF0123456789abcdef", False),
     ("0123", False), ("0123456789abcdef0123456789abcdef0", False)],
)
def test_the_documented_digest_pattern_agrees_with_validation(digest: str, valid: bool) -> None:
    from api.services.seatmap import LayoutPath

    layout = DOC["paths"]["/api/v1/seats/events/{event_id}/layout/{digest}"]["get"]
    schema = next(p["schema"] for p in layout["parameters"] if p["name"] == "digest")
    documented = jsonschema.Draft202012Validator(schema).is_valid(digest)
    try:
        LayoutPath.model_validate({"event_id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
                                   "digest": digest})
        enforced = True
    except ValidationError:
        enforced = False
    assert documented == enforced == valid


@pytest.mark.parametrize(("key", "valid"), [("k", True), ("k" * 200, True), ("", False),
                                            ("k" * 201, False)])
def test_the_documented_idempotency_key_agrees_with_the_lock(key: str, valid: bool) -> None:
    from api.errors import ApiError
    from api.services.seats import idempotency_key

    lock = DOC["paths"]["/api/v1/seats/lock"]["post"]
    schema = next(p["schema"] for p in lock["parameters"] if p["name"] == "Idempotency-Key")
    documented = jsonschema.Draft202012Validator(schema).is_valid(key)

    call = SimpleNamespace(request=SimpleNamespace(
        scope={"headers": [(b"idempotency-key", key.encode())]}))
    refused: int | None = None
    try:
        enforced = idempotency_key(call) == key  # type: ignore[arg-type]
    except ApiError as exc:
        enforced, refused = False, exc.status
    assert refused in (None, 422)
    assert documented == enforced == valid

