"""The purchase saga's state machine: the moves it allows and refuses."""

from __future__ import annotations

import itertools

import pytest

from engine.core.saga import FINAL, MOVES, IllegalMove, SagaState, check_move, is_final


def test_the_happy_path_is_allowed_step_by_step() -> None:
    path = [SagaState.PREPARED, SagaState.CONFIRMING, SagaState.APPROVED, SagaState.RECORDED,
            SagaState.COMPLETED, SagaState.REFUNDING, SagaState.CANCELLED]
    for current, to in itertools.pairwise(path):
        assert check_move(current, to) is to


@pytest.mark.parametrize("state", [SagaState.PREPARED, SagaState.CONFIRMING,
                                   SagaState.APPROVED, SagaState.RECORDED])
def test_every_step_before_the_sale_can_be_compensated(state: SagaState) -> None:
    assert check_move(state, SagaState.COMPENSATING) is SagaState.COMPENSATING
    assert check_move(SagaState.COMPENSATING, SagaState.FAILED) is SagaState.FAILED


@pytest.mark.parametrize(("current", "to"), [
    (SagaState.PREPARED, SagaState.APPROVED),  # no sale without the gateway's approval
    (SagaState.CONFIRMING, SagaState.RECORDED),
    (SagaState.APPROVED, SagaState.COMPLETED),  # no sale before PostgreSQL records it
    (SagaState.COMPLETED, SagaState.COMPENSATING),  # a sale is undone by a refund only
    (SagaState.FAILED, SagaState.CONFIRMING),
    (SagaState.CANCELLED, SagaState.REFUNDING),
])
def test_shortcuts_and_moves_out_of_an_end_are_refused(current: SagaState,
                                                       to: SagaState) -> None:
    with pytest.raises(IllegalMove):
        check_move(current, to)


def test_final_states_have_no_way_out_but_a_refund() -> None:
    assert {s for s in SagaState if is_final(s)} == set(FINAL)
    assert MOVES[SagaState.FAILED] == MOVES[SagaState.CANCELLED] == frozenset()
    assert MOVES[SagaState.COMPLETED] == {SagaState.REFUNDING}
    with pytest.raises(ValueError, match="NOPE"):
        check_move("NOPE", SagaState.FAILED)
