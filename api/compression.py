"""Responses compressed ahead of time, and the choice among them for each request.

A representation that many clients fetch (the seat layout, its live status) is compressed once
when its bytes change, never per request: `Encoded` keeps its bytes in each content coding
made for it, `negotiate` picks the one a request's `Accept-Encoding` prefers, and `respond`
answers with it (or 304 when `If-None-Match` names the representation). `GzipPrefix` makes the
gzip form of a document whose long first part never changes at the cost of its last part
only. Strong validators differ by coding (`"tag"`, `"tag-gzip"`, `"tag-br"`); `If-None-Match`
matches any coding of the same tag, which names the same content."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import brotli
from starlette.responses import Response

Coding = Literal["br", "gzip", "identity"]
PREFERENCE: Final[tuple[Coding, ...]] = ("br", "gzip", "identity")
"""Among codings a client accepts equally, the smallest first."""

GZIP_LEVEL: Final = 6
BROTLI_QUALITY: Final = 5
"""For bytes made again on every refresh; a resource made once uses the strongest levels."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """One representation: its bytes in each coding made for it, and its validator."""

    identity: bytes
    etag: str  # the quoted tag of the identity bytes, e.g. '"3f2a..."'
    gzip: bytes | None = None
    br: bytes | None = None

    def coded(self, coding: Coding) -> bytes | None:
        if coding == "br":
            return self.br
        if coding == "gzip":
            return self.gzip
        return self.identity

    def etag_of(self, coding: Coding) -> str:
        return self.etag if coding == "identity" else f'{self.etag[:-1]}-{coding}"'


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """`data` as a gzip member without a timestamp, so equal data gives equal bytes."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def brotli_bytes(data: bytes, quality: int = BROTLI_QUALITY) -> bytes:
    return bytes(brotli.compress(data, quality=quality))


def encoded(identity: bytes, etag: str, *, gzip_level: int = GZIP_LEVEL,
            brotli_quality: int | None = BROTLI_QUALITY) -> Encoded:
    """`identity` with its gzip form and, unless `brotli_quality` is None, its brotli form."""
    return Encoded(identity, etag, gzip=gzip_bytes(identity, gzip_level),
                   br=None if brotli_quality is None
                   else brotli_bytes(identity, brotli_quality))


class GzipPrefix:
    """The gzip form of `prefix + tail` for any tail, with `prefix` compressed once: the
    compressor's state after the prefix is kept and copied for each tail."""

    def __init__(self, prefix: bytes, level: int = GZIP_LEVEL) -> None:
        self._state = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._head = self._state.compress(prefix)

    def complete(self, tail: bytes) -> bytes:
        c = self._state.copy()
        return self._head + c.compress(tail) + c.flush()


_LAST_RESORT = 0.001
_ACCEPT_CACHE: dict[str, tuple[Coding, ...]] = {}
_ACCEPT_CACHE_SIZE = 256


def acceptable(header: str | None) -> tuple[Coding, ...]:
    """The codings of ours a client accepts, best first (by its q-values, then ours). No
    header means identity only; identity stays acceptable, last, unless refused
    (`identity;q=0`, or `*;q=0` without naming it)."""
    if not header:
        return ("identity",)
    found = _ACCEPT_CACHE.get(header)
    if found is not None:
        return found
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0
        weights[name] = max(q, weights.get(name, 0.0))
    star = weights.get("*")

    def weight(coding: Coding) -> float:
        if coding in weights:
            return weights[coding]
        if coding == "identity":  # acceptable unless refused, and the last choice
            return star if star is not None else _LAST_RESORT
        return star if star is not None else 0.0

    ranked = sorted((c for c in PREFERENCE if weight(c) > 0),
                    key=lambda c: (-weight(c), PREFERENCE.index(c)))
    result = tuple(ranked) or ("identity",)  # refusing everything gets the plain bytes
    if len(_ACCEPT_CACHE) >= _ACCEPT_CACHE_SIZE:
        _ACCEPT_CACHE.clear()
    _ACCEPT_CACHE[header] = result
    return result


def negotiate(representation: Encoded, accept_encoding: str | None) -> Coding:
    """The coding to send: the client's best among those made for this representation."""
    for coding in acceptable(accept_encoding):
        if representation.coded(coding) is not None:
            return coding
    return "identity"


def matches(if_none_match: str | None, representation: Encoded) -> bool:
    """Whether `If-None-Match` names this representation (in any coding; weak comparison)."""
    if not if_none_match:
        return False
    base = representation.etag[1:-1]
    for tag in if_none_match.split(","):
        tag = tag.strip().removeprefix("W/")
        if tag == "*":
            return True
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            value = tag[1:-1]
            if value == base or value in (f"{base}-gzip", f"{base}-br"):
                return True
    return False


def respond(representation: Encoded, headers: Mapping[str, str], *, cache_control: str,
            media_type: str = "application/json") -> Response:
    """The representation for a request with these headers: 304 if the client has it, else
    its bytes in the best coding the client accepts."""
    coding = negotiate(representation, headers.get("accept-encoding"))
    out = {"etag": representation.etag_of(coding), "cache-control": cache_control,
           "vary": "accept-encoding"}
    if matches(headers.get("if-none-match"), representation):
        return Response(status_code=304, headers=out)
    if coding != "identity":
        out["content-encoding"] = coding
    body = representation.coded(coding)
    assert body is not None
    return Response(body, media_type=media_type, headers=out)
