"""One table from the engine's errors to the API's answers (`api.errors.http_error`): each
kind of refusal, domain error, store error and unavailable dependency has its status, code,
body and headers, and an error the table does not name is left to become a 500."""

from __future__ import annotations

import pytest

from api.errors import ApiError, Forbidden, http_error
from engine.core.errors import HoldNotOwned, NotAdmitted, SeatUnavailable, ShardUnavailable
from engine.saga.errors import Kind, Refused
from engine.saga.purchase import OutcomePending, SagaError
from engine.store.errors import InvalidTransition, NotFound, SeatAlreadyReserved


def answer(exc: Exception) -> tuple[int, dict[str, object], dict[str, str]]:
    err = http_error(exc)
    assert err is not None
    return err.status, err.body(), err.headers


@pytest.mark.parametrize(("kind", "status"), [
    (Kind.FORBIDDEN, 403), (Kind.NOT_FOUND, 404), (Kind.CONFLICT, 409), (Kind.INVALID, 422),
    (Kind.UNAVAILABLE, 503)])
def test_a_refusal_answers_the_status_of_its_kind(kind: Kind, status: int) -> None:
    assert answer(Refused("WHY", "because", kind)) == (
        status, {"error": {"code": "WHY", "message": "because"}}, {})


def test_a_refusal_keeps_its_details_and_its_retry_hint() -> None:
    assert answer(Refused("PAYMENTS_UNAVAILABLE", "down", Kind.UNAVAILABLE, retry_after_s=30,
                          details={"seat_ids": ["A-1-1"]})) == (
        503, {"error": {"code": "PAYMENTS_UNAVAILABLE", "message": "down",
                        "details": {"seat_ids": ["A-1-1"]}}}, {"Retry-After": "30"})


def test_the_sagas_refusals_answer_as_they_always_did() -> None:
    assert answer(SagaError("AMOUNT_MISMATCH", "the amount must be 5", Kind.INVALID))[0] == 422
    assert answer(SagaError("IN_FLIGHT", "busy"))[0] == 409
    assert answer(SagaError("FORBIDDEN", "not yours", Kind.FORBIDDEN))[0] == 403
    assert answer(OutcomePending("later")) == (
        503, {"error": {"code": "PAYMENT_OUTCOME_PENDING", "message": "later"}},
        {"Retry-After": "2"})
    assert answer(SagaError("UNAVAILABLE", "slow", Kind.UNAVAILABLE))[2] == {
        "Retry-After": "2"}


def test_domain_errors_answer_by_their_code() -> None:
    assert answer(SeatUnavailable("taken", seat_ids=["A-1-1"], hold=object())) == (
        409, {"error": {"code": "SEAT_UNAVAILABLE", "message": "taken",
                        "details": {"seat_ids": ["A-1-1"]}}}, {})
    assert answer(HoldNotOwned("not yours"))[0] == 403
    assert answer(NotAdmitted("wait"))[0] == 403


def test_store_errors_and_unavailable_dependencies() -> None:
    assert answer(NotFound("no event x")) == (
        404, {"error": {"code": "NOT_FOUND", "message": "no event x"}}, {})
    assert answer(InvalidTransition("PENDING -> PENDING"))[:2] == (
        409, {"error": {"code": "CONFLICT", "message": "PENDING -> PENDING"}})
    assert answer(SeatAlreadyReserved(["A-1-1"]))[0] == 409
    for down in (ShardUnavailable("restarting"), ConnectionRefusedError(), TimeoutError()):
        assert answer(down) == (
            503, {"error": {"code": "SERVICE_UNAVAILABLE",
                            "message": "a dependency is unavailable; retry shortly"}},
            {"Retry-After": "1"})


def test_api_errors_pass_and_unknown_errors_are_left_alone() -> None:
    forbidden = Forbidden("administrators only")
    assert http_error(forbidden) is forbidden
    assert isinstance(http_error(Refused("X", "y")), ApiError)
    assert http_error(KeyError("bug")) is None
    assert http_error(ValueError("bug")) is None
