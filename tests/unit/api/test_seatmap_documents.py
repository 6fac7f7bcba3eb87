"""The seat map's documents, made once and served as bytes: the layout under its digest, the
live part, and the full view, each in every coding made for it."""

from __future__ import annotations

import gzip
import json
from typing import Any

import brotli

from api.compression import respond
from api.services.seatmap import LAYOUT_CACHE, Layout, _Compressed, _EventMap
from engine.core.stadium import build_stadium

VENUE = build_stadium(floor_blocks=1, lower_sections=1, upper_sections=0, standing=0)
SEATS = [s.id for s in VENUE.seats()]
EVENT = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
AVAILABILITY = {"sections": {"A": 10}}


def _map(compressed: bool = True) -> _EventMap:
    layout = Layout.of(EVENT, VENUE)
    seat_map = _EventMap(layout)
    if compressed:
        seat_map.compressed = _Compressed.of(layout)
    return seat_map


def test_the_layout_is_named_by_a_digest_of_its_bytes() -> None:
    a, b = Layout.of(EVENT, VENUE), Layout.of(EVENT, VENUE)
    assert a.digest == b.digest and len(a.digest) == 32
    other = Layout.of(EVENT, build_stadium(floor_blocks=1, lower_sections=2, upper_sections=0,
                                           standing=0))
    assert other.digest != a.digest
    assert a.url == f"/api/v1/seats/events/{EVENT}/layout/{a.digest}"
    doc = json.loads(a.document.identity)
    assert doc["layoutDigest"] == a.digest and "eventId" not in doc
    same = Layout.of("another-event", VENUE)
    assert same.document == a.document, "the digest names the bytes, whatever the event"
    assert {"venue", "sections", "ticketTypes", "seatIdFormat"} <= set(doc)
    assert sum(len(r["seats"]) for s in doc["sections"] for r in s["rows"]) == VENUE.seat_count


def test_every_coding_of_every_document_decodes_to_its_plain_bytes() -> None:
    seat_map = _map()
    seat_map.render({SEATS[0]: 1}, AVAILABILITY)
    layout = seat_map.layout_document
    assert layout.gzip is not None and layout.br is not None
    assert gzip.decompress(layout.gzip) == layout.identity
    assert brotli.decompress(layout.br) == layout.identity
    for rep in (seat_map.status, seat_map.full):
        assert rep.gzip is not None
        assert gzip.decompress(rep.gzip) == rep.identity
    assert seat_map.status.br is not None
    assert brotli.decompress(seat_map.status.br) == seat_map.status.identity


def test_the_full_view_is_the_layout_and_the_live_part_in_one_document() -> None:
    seat_map = _map()
    seat_map.render({SEATS[0]: 1, SEATS[1]: 2}, AVAILABILITY)
    status: dict[str, Any] = json.loads(seat_map.status.identity)
    full: dict[str, Any] = json.loads(seat_map.full.identity)
    layout: dict[str, Any] = json.loads(seat_map.layout.document.identity)
    assert status["status"][:3] == "120" and len(status["status"]) == VENUE.seat_count
    assert status["layoutUrl"] == seat_map.layout.url
    assert status["layoutDigest"] == seat_map.layout.digest
    assert "sections" not in status
    assert full == {**status, **{k: layout[k] for k in ("venue", "sections", "ticketTypes")}}


def test_until_the_layout_is_compressed_the_full_view_goes_out_plain() -> None:
    seat_map = _map(compressed=False)
    seat_map.render({}, AVAILABILITY)
    assert seat_map.full.gzip is None and seat_map.layout_document.br is None
    r = respond(seat_map.full, {"accept-encoding": "gzip, br"}, cache_control="no-cache")
    assert "content-encoding" not in r.headers
    assert json.loads(r.body)["status"] == "0" * VENUE.seat_count
    seat_map.take(_Compressed.of(seat_map.layout))  # the worker thread is done
    assert seat_map.full.gzip is not None, "not only from the next refresh on"
    assert gzip.decompress(seat_map.full.gzip) == seat_map.full.identity


def test_the_live_validator_changes_with_the_seats_not_with_the_clock() -> None:
    seat_map = _map()
    seat_map.render({}, AVAILABILITY)
    first = seat_map.status
    seat_map.render({}, AVAILABILITY)
    assert seat_map.status.etag == first.etag
    assert json.loads(seat_map.status.identity)["asOf"] >= json.loads(first.identity)["asOf"]
    seat_map.render({SEATS[5]: 1}, AVAILABILITY)
    assert seat_map.status.etag != first.etag
    assert seat_map.full.etag == seat_map.status.etag


def test_the_layout_is_sent_immutable_and_compressed() -> None:
    seat_map = _map()
    r = respond(seat_map.layout_document, {"accept-encoding": "gzip, deflate, br"},
                cache_control=LAYOUT_CACHE)
    assert r.headers["content-encoding"] == "br"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["etag"] == f'"{seat_map.layout.digest}-br"'
    assert len(r.body) < len(seat_map.layout.document.identity) / 4


def test_a_layout_compressed_while_a_refresh_was_encoding_still_gzips_the_full_view() -> None:
    seat_map = _map(compressed=False)
    etag, live = seat_map.live({SEATS[0]: 2}, AVAILABILITY)
    views = seat_map.encode(etag, live, seat_map.compressed)  # in the worker thread
    seat_map.take(_Compressed.of(seat_map.layout))  # meanwhile, on the event loop
    seat_map.show(live, *views)
    assert seat_map.full.gzip is not None
    assert gzip.decompress(seat_map.full.gzip) == seat_map.full.identity
    assert json.loads(seat_map.full.identity)["status"][0] == "2"
