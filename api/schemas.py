"""Request and response schemas shared by the services. JSON fields are camelCase; unknown
fields are refused; bodies are validated strictly (no silent type coercion)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from api.security.passwords import MAX_PASSWORD_BYTES


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              frozen=True)


class PathSchema(BaseModel):
    """Path parameters, by the names in the path (`{event_id}`); strings converted to the
    declared types."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class QuerySchema(BaseModel):
    """Query strings: strings are converted to the declared types; unknown names refused."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              frozen=True)


def _password_bytes(value: str) -> str:
    if len(value.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"at most {MAX_PASSWORD_BYTES} bytes in UTF-8")
    return value


Email = Annotated[str, StringConstraints(min_length=3, max_length=254, strip_whitespace=True,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=MAX_PASSWORD_BYTES),
                     AfterValidator(_password_bytes)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ErrorDetail(Schema):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(Schema):
    error: ErrorDetail


class UserOut(Schema):
    id: str
    email: str
    name: str
    role: str
    created_at: datetime


T = TypeVar("T")


class Page(Schema, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class PageQuery(QuerySchema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(20, ge=1, le=100)
