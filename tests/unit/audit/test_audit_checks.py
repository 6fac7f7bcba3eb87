"""The audit's rules on plain data: each kind of violation is found, clean data passes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from engine.audit import checks
from engine.audit.checks import (
    AuditInput,
    LiveHold,
    PaymentRow,
    ReservationRow,
    SeatItem,
    ShardView,
    audit,
)
from engine.audit.command import main
from engine.audit.report import format_json, format_text

NOW = 2_000_000_000.0


def clean() -> AuditInput:
    """Two shards: r1 bought A-1 and A-2 on shard 0, r2 bought B-1 on shard 1 and paid after
    a failed attempt; r3 is pending on a live hold; r4 was cancelled and refunded."""
    return AuditInput(
        event_id="e1",
        title="Concert",
        shard_count=2,
        seat_items=[
            SeatItem("r1", "A-1", 0, "0.h1", "CONFIRMED"),
            SeatItem("r1", "A-2", 0, "0.h1", "CONFIRMED"),
            SeatItem("r2", "B-1", 1, "1.h2", "CONFIRMED"),
            SeatItem("r3", "A-3", 0, "0.h3", "PENDING"),
        ],
        reservations=[
            ReservationRow("r1", "CONFIRMED", 200),
            ReservationRow("r2", "CONFIRMED", 90),
            ReservationRow("r3", "PENDING", 100),
            ReservationRow("r4", "CANCELLED", 100),
        ],
        payments=[
            PaymentRow("p1", "r1", 200, "DONE", 200),
            PaymentRow("p2a", "r2", 90, "ABORTED", None),
            PaymentRow("p2", "r2", 90, "DONE", None),
            PaymentRow("p4", "r4", 100, "CANCELED", 0),
        ],
        shards=[
            ShardView(0, sold={"A-1": "0.h1", "A-2": "0.h1"},
                      holds=(LiveHold("0.h3", "u3", ("A-3",), 1, NOW + 60),),
                      seq=7, snapshot_seq=5, replayed=2),
            ShardView(1, sold={"B-1": "1.h2"}, seq=3, replayed=3),
        ],
    )


def kinds(data: AuditInput, **kw: float) -> list[str]:
    return [v.kind for v in audit(data, now=kw.pop("now", NOW), **kw).violations]


def test_clean_data_passes() -> None:
    result = audit(clean(), now=NOW)
    assert result.ok and result.violations == ()
    s = result.summary
    assert s["reservations"] == {"CANCELLED": 1, "CONFIRMED": 2, "PENDING": 1}
    assert (s["confirmed_seats_db"], s["sold_seats_shards"], s["live_holds"]) == (3, 3, 1)
    assert [(x["shard"], x["sold_seats"], x["confirmed_seats_db"]) for x in s["shards"]] == [
        (0, 2, 2), (1, 1, 1)]
    assert s["violations"] == {}
    assert "OK: no violations" in format_text(result)
    assert json.loads(format_json(result))["ok"] is True


def test_a_seat_in_two_active_items() -> None:
    data = clean()
    items = [*data.seat_items, SeatItem("r5", "A-3", 0, "0.h5", "PENDING")]
    assert kinds(replace(data, seat_items=items)) == [checks.DOUBLE_BOOKED_SEAT]


def test_a_duplicate_the_database_reports_counts_on_its_own() -> None:
    data = replace(clean(), duplicate_seats={"A-1": ["r1", "r9"]})
    (violation,) = audit(data, now=NOW).violations
    assert violation.kind == checks.DOUBLE_BOOKED_SEAT
    assert "A-1" in violation.detail and "r9" in violation.detail


@pytest.mark.parametrize("payments", [
    [],
    [PaymentRow("p1", "r1", 200, "IN_PROGRESS", None)],
    [PaymentRow("p1", "r1", 150, "DONE", 150)],
    [PaymentRow("p1", "r1", 200, "CANCELED", 0)],
], ids=["none", "not-done", "other-amount", "refunded"])
def test_a_confirmed_reservation_without_a_done_payment_of_its_amount(
    payments: list[PaymentRow],
) -> None:
    data = clean()
    others = [p for p in data.payments if p.reservation_id != "r1"]
    result = audit(replace(data, payments=[*others, *payments]), now=NOW)
    assert [v.kind for v in result.violations] == [checks.CONFIRMED_WITHOUT_PAYMENT]
    assert "r1" in result.violations[0].detail


@pytest.mark.parametrize(("payment", "found"), [
    (PaymentRow("p4", "r4", 100, "DONE", 100), True),
    (PaymentRow("p4", "r4", 100, "DONE", None), True),
    (PaymentRow("p4", "r4", 100, "PARTIAL_CANCELED", 40), True),
    (PaymentRow("p3", "r3", 100, "DONE", 100), True),
    (PaymentRow("p4", "r4", 100, "DONE", 0), False),
    (PaymentRow("p4", "r4", 100, "CANCELED", 0), False),
    (PaymentRow("p4", "r4", 100, "EXPIRED", None), False),
])
def test_money_kept_for_a_reservation_that_is_not_a_sale(
    payment: PaymentRow, found: bool
) -> None:
    data = clean()
    others = [p for p in data.payments if p.id != "p4"]
    expected = [checks.PAYMENT_WITHOUT_SALE] if found else []
    assert kinds(replace(data, payments=[*others, payment])) == expected


def test_a_seat_the_shard_sold_but_postgres_did_not_confirm() -> None:
    data = clean()
    shard0 = replace(data.shards[0], sold={**data.shards[0].sold, "A-3": "0.h3", "A-9": "0.x"})
    result = audit(replace(data, shards=[shard0, data.shards[1]]), now=NOW)
    assert [v.kind for v in result.violations] == [checks.SHARD_SOLD_NOT_IN_DB] * 2
    pending, unknown = result.violations
    assert "A-3" in pending.detail and "r3 of it is PENDING" in pending.detail
    assert "A-9" in unknown.detail and "shard 0" in unknown.detail


def test_a_seat_postgres_confirmed_but_the_shard_did_not_sell() -> None:
    data = clean()
    shard1 = replace(data.shards[1], sold={},
                     holds=(LiveHold("1.h7", "u7", ("B-1",), 1, NOW + 60),))
    result = audit(replace(data, shards=[data.shards[0], shard1]), now=NOW)
    (violation,) = result.violations
    assert violation.kind == checks.DB_SOLD_NOT_IN_SHARD
    assert "B-1" in violation.detail and "shard 1 holds it (hold 1.h7)" in violation.detail


def test_the_comparison_is_per_shard() -> None:
    data = clean()
    moved = [replace(i, shard=1) if i.seat_id == "A-1" else i for i in data.seat_items]
    assert sorted(kinds(replace(data, seat_items=moved))) == [
        checks.DB_SOLD_NOT_IN_SHARD, checks.SHARD_SOLD_NOT_IN_DB]


def test_a_confirmed_seat_on_a_shard_the_event_does_not_have() -> None:
    data = clean()
    items = [*data.seat_items, SeatItem("r1", "Z-1", 5, "5.h1", "CONFIRMED")]
    assert kinds(replace(data, seat_items=items)) == [checks.DB_SOLD_NOT_IN_SHARD]


def test_a_hold_alive_past_its_expiry_and_the_grace() -> None:
    data = clean()
    expires = NOW + 60
    assert kinds(data, now=expires + 30) == []
    assert kinds(data, now=expires + 31) == [checks.STALE_HOLD]
    assert kinds(data, now=expires + 5, hold_grace_s=1.0) == [checks.STALE_HOLD]
    result = audit(data, now=expires + 31)
    assert "0.h3" in result.violations[0].detail
    assert result.summary["shards"][0]["stale_holds"] == 1


def test_an_unreadable_shard_is_a_violation() -> None:
    data = clean()
    broken = ShardView(1, error="its journal does not replay")
    result = audit(replace(data, shards=[data.shards[0], broken]), now=NOW)
    assert [v.kind for v in result.violations] == [checks.SHARD_UNREADABLE]
    missing = audit(replace(data, shards=[data.shards[0]]), now=NOW)
    assert [v.kind for v in missing.violations] == [checks.SHARD_UNREADABLE]


def test_the_report_lists_every_violation() -> None:
    data = replace(clean(), reservations=[*clean().reservations,
                                          ReservationRow("r6", "CONFIRMED", 10)])
    result = audit(data, now=NOW)
    text = format_text(result)
    assert "1 violation(s): confirmed_without_payment 1" in text
    assert "reservation r6" in text
    doc = json.loads(format_json(result))
    assert doc["ok"] is False
    assert doc["violations"] == [{"kind": "confirmed_without_payment",
                                  "detail": result.violations[0].detail}]


@pytest.mark.parametrize("argv", [
    ["--event", "not-a-uuid"], [], ["--event", "00000000-0000-0000-0000-000000000001",
                                    "--hold-grace", "-1"],
])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_missing_stores_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TIKETI_DATA_DIR", str(tmp_path))
    assert main(["--event", "00000000-0000-0000-0000-000000000001"]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err
