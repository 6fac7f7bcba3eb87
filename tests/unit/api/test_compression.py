"""Responses compressed ahead of time: which coding a request gets, validators per coding, and
the gzip of a document whose first part is compressed once."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from api.compression import (
    Encoded,
    GzipPrefix,
    acceptable,
    encoded,
    gzip_bytes,
    matches,
    negotiate,
    respond,
)

DOC = b'{"status":"' + b"0" * 5_000 + b'"}'


@pytest.mark.parametrize(
    ("header", "best_first"),
    [
        (None, ("identity",)),
        ("", ("identity",)),
        ("gzip, deflate, br", ("br", "gzip", "identity")),
        ("gzip", ("gzip", "identity")),
        ("br;q=0.5, gzip;q=0.8", ("gzip", "br", "identity")),
        ("GZIP;Q=1.0", ("gzip", "identity")),
        ("*", ("br", "gzip", "identity")),
        ("gzip, identity;q=0", ("gzip",)),
        ("br, *;q=0", ("br",)),
        ("identity;q=0, *;q=0", ("identity",)),  # refuses everything: gets the plain bytes
        ("gzip;q=nonsense, br", ("br", "identity")),
        ("zstd, deflate", ("identity",)),
    ],
)
def test_accept_encoding_ranks_our_codings(header: str | None,
                                           best_first: tuple[str, ...]) -> None:
    assert acceptable(header) == best_first


def test_a_coding_not_made_for_a_representation_is_not_sent() -> None:
    only_gzip = Encoded(DOC, '"t"', gzip=gzip_bytes(DOC))
    assert negotiate(only_gzip, "br, gzip") == "gzip"
    assert negotiate(only_gzip, "br") == "identity"
    both = encoded(DOC, '"t"')
    assert negotiate(both, "gzip, deflate, br") == "br"


def test_each_coding_decodes_to_the_same_bytes() -> None:
    both = encoded(DOC, '"t"')
    assert both.gzip is not None and both.br is not None
    assert gzip.decompress(both.gzip) == DOC
    assert brotli.decompress(both.br) == DOC
    assert len(both.br) < len(DOC) / 50 and len(both.gzip) < len(DOC) / 20
    assert gzip_bytes(DOC) == gzip_bytes(DOC), "no timestamp: equal data, equal bytes"


def test_the_gzip_of_a_prefix_compressed_once_completes_any_tail() -> None:
    prefix = b'{"sections":[' + b",".join(b'{"id":"%d"}' % i for i in range(20_000)) + b"],"
    once = GzipPrefix(prefix)
    for tail in (b'"status":"0"}', b'"status":"' + b"1" * 40_000 + b'"}', b"}"):
        made = once.complete(tail)
        assert gzip.decompress(made) == prefix + tail
        assert zlib.decompress(made, 47) == prefix + tail  # one gzip member, as HTTP expects


def test_validators_differ_by_coding_and_revalidation_accepts_any_of_them() -> None:
    rep = encoded(DOC, '"abc"')
    assert [rep.etag_of(c) for c in ("identity", "gzip", "br")] == [
        '"abc"', '"abc-gzip"', '"abc-br"']
    for header in ('"abc"', '"abc-br"', 'W/"abc-gzip"', '"x", "abc"', "*"):
        assert matches(header, rep), header
    for header in (None, "", '"abd"', "abc", '"abc-zstd"', '"ab"'):
        assert not matches(header, rep), header


def test_respond_sends_the_best_coding_with_its_validator_and_cache_policy() -> None:
    rep = encoded(DOC, '"abc"')
    r = respond(rep, {"accept-encoding": "gzip, br"}, cache_control="no-cache")
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "br"
    assert r.headers["etag"] == '"abc-br"'
    assert r.headers["vary"] == "accept-encoding"
    assert r.headers["cache-control"] == "no-cache"
    assert brotli.decompress(r.body) == DOC
    plain = respond(rep, {}, cache_control="no-cache")
    assert plain.body == DOC and "content-encoding" not in plain.headers
    assert plain.headers["content-length"] == str(len(DOC))


def test_respond_answers_304_without_a_body_when_the_client_has_it() -> None:
    rep = encoded(DOC, '"abc"')
    r = respond(rep, {"accept-encoding": "gzip", "if-none-match": '"abc-gzip"'},
                cache_control="public, max-age=31536000, immutable")
    assert r.status_code == 304
    assert r.body == b""
    assert r.headers["etag"] == '"abc-gzip"'
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
