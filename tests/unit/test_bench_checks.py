"""The benchmarks refuse to report a rate of answers they do not measure: a redirect, an error,
a refused WebSocket handshake or a message other than a queue update stops the run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import http_bench, ws_bench
from benchmarks.checks import UnexpectedStatus, check_statuses


def test_a_round_of_expected_statuses_passes() -> None:
    check_statuses("hello", {200: 5_000}, {200})
    check_statuses("lock", {201: 10, 409: 0}, {201})


def test_a_redirect_in_a_round_stops_it_naming_the_round_and_the_statuses() -> None:
    with pytest.raises(UnexpectedStatus) as caught:
        check_statuses("hello_serve (GET /hello)", {200: 3, 307: 62_858}, {200},
                       {307: b"HTTP/1.1 307 Temporary Redirect"})
    message = str(caught.value)
    assert message.startswith("hello_serve (GET /hello): expected only 200")
    assert "62,858 x 307" in message
    assert "of 62,861 answers" in message
    assert "a 307 answer began: HTTP/1.1 307 Temporary Redirect" in message


def test_a_sold_out_answer_fails_a_round_that_expects_only_holds() -> None:
    with pytest.raises(UnexpectedStatus, match="expected only 201, got 1 x 409"):
        check_statuses("seat_lock", {201: 999, 409: 1}, {201},
                       {409: b'{"error":{"code":"SEAT_UNAVAILABLE"}}'})


def test_a_round_with_no_answer_is_a_failure_too() -> None:
    with pytest.raises(UnexpectedStatus, match="no answer at all"):
        check_statuses("queue_status", {}, {200})


def test_a_round_must_expect_something() -> None:
    with pytest.raises(ValueError, match="at least one status"):
        check_statuses("x", {200: 1}, set())


def test_long_sample_bodies_are_cut() -> None:
    with pytest.raises(UnexpectedStatus) as caught:
        check_statuses("x", {500: 1}, {200}, {500: b"e" * 5_000})
    assert "e" * 300 in str(caught.value)
    assert "e" * 301 not in str(caught.value)


def test_http_bench_counts_warm_up_answers_in_its_check() -> None:
    stats = http_bench.Stats()
    stats.answered(307, b"redirect")  # in the warm-up: not timed, still checked
    stats.answered(200, b"{}")
    stats.record(200, 0.001)
    assert stats.statuses == {200: 1}
    with pytest.raises(UnexpectedStatus, match="1 x 307"):
        stats.check("hello_serve", {200})


async def test_http_bench_reads_the_body_of_each_answer() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /hello/\r\n"
                     b"content-length: 0\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
                     b"Content-Encoding: gzip\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    first = await http_bench._read_response(reader)
    second = await http_bench._read_response(reader)
    assert (first.status, first.body, first.header(b"location")) == (307, b"", b"/hello/")
    assert (second.status, second.body) == (200, b"abcde")
    assert second.header(b"content-encoding") == b"gzip"


def test_http_bench_exits_non_zero_and_writes_nothing_on_an_unexpected_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refused(args: Any) -> dict[str, Any]:
        check_statuses("seat_lock (POST /api/v1/seats/lock, round 1)", {201: 5, 403: 2},
                       {201})
        return {}

    monkeypatch.setattr(http_bench, "run", refused)
    output = tmp_path / "out.json"

    assert http_bench.main(["--output", str(output)]) == 1

    assert not output.exists()
    err = capsys.readouterr().err
    assert "http_bench failed" in err
    assert "expected only 201, got 2 x 403" in err


def test_the_hello_world_round_asks_for_the_root_route_not_the_redirect() -> None:
    targets = http_bench.Targets("127.0.0.1", 1, 2, "e", None, None, 1, _no_event)
    spec = asyncio.run(targets.hello_serve())
    assert spec.build(0, 0).startswith(b"GET /hello/ HTTP/1.1\r\n")
    assert spec.expected == {200}


async def _no_event(title: str) -> str:
    raise AssertionError("not needed")


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_ws_bench_tells_a_refused_handshake_from_a_socket_it_could_not_open() -> None:
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sock = ws_bench._Socket(b"GET / HTTP/1.1\r\n\r\n", opened)
    transport = _Transport()
    sock.connection_made(transport)
    sock.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 9\r\n\r\nForbidden")
    with pytest.raises(ws_bench.HandshakeRefused) as caught:
        await opened
    assert caught.value.status == 403
    assert caught.value.sample.endswith(b"Forbidden")
    assert transport.closed


def test_ws_bench_stops_on_a_refused_handshake_but_not_on_a_timeout() -> None:
    ws_bench.check_handshakes(100, {"opened": 80, "failures": {"TimeoutError": 20},
                                    "refused": {}, "refused_samples": {}})
    with pytest.raises(UnexpectedStatus, match=r"expected only 101, got 3 x 403"):
        ws_bench.check_handshakes(100, {"opened": 97, "failures": {"HTTP 403": 3},
                                        "refused": {403: 3},
                                        "refused_samples": {403: b"HTTP/1.1 403"}})


def test_ws_bench_stops_when_a_socket_gets_something_other_than_a_queue_update() -> None:
    step = _step_with(unexpected=0)
    ws_bench.check_messages(step, None)
    with pytest.raises(UnexpectedStatus, match="2 messages other than"):
        ws_bench.check_messages(_step_with(unexpected=2),
                                json.dumps({"type": "error", "code": "NOT_IN_QUEUE"}))


def _step_with(unexpected: int) -> Any:
    class Step:
        target = 10
        unexpected_messages = unexpected

    return Step()
