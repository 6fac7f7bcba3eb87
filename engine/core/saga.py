"""The purchase saga's states and the moves between them (pure; the orchestrator in
`engine.saga` performs each step and persists the state it reaches).

    PREPARED ─▶ CONFIRMING ─▶ APPROVED ─▶ RECORDED ─▶ COMPLETED ─▶ REFUNDING ─▶ CANCELLED
       │            │            │           │
       └────────────┴────────────┴───────────┴──▶ COMPENSATING ─▶ FAILED

CONFIRMING asks the gateway (an unknown outcome is looked up by orderId before anything is
compensated); APPROVED records the sale in PostgreSQL; RECORDED has the shards sell the seats.
PostgreSQL records the sale (RECORDED) before the shard sells the seats, so a shard that
restarts in between forces the recorded sale in when it reconciles, instead of dropping it."""

from __future__ import annotations

from enum import StrEnum


class SagaState(StrEnum):
    PREPARED = "PREPARED"
    CONFIRMING = "CONFIRMING"
    APPROVED = "APPROVED"
    RECORDED = "RECORDED"
    COMPLETED = "COMPLETED"
    COMPENSATING = "COMPENSATING"
    FAILED = "FAILED"
    REFUNDING = "REFUNDING"
    CANCELLED = "CANCELLED"


MOVES: dict[SagaState, frozenset[SagaState]] = {
    SagaState.PREPARED: frozenset({SagaState.CONFIRMING, SagaState.COMPENSATING}),
    SagaState.CONFIRMING: frozenset({SagaState.APPROVED, SagaState.COMPENSATING}),
    SagaState.APPROVED: frozenset({SagaState.RECORDED, SagaState.COMPENSATING}),
    SagaState.RECORDED: frozenset({SagaState.COMPLETED, SagaState.COMPENSATING}),
    SagaState.COMPENSATING: frozenset({SagaState.FAILED}),
    SagaState.COMPLETED: frozenset({SagaState.REFUNDING}),
    SagaState.REFUNDING: frozenset({SagaState.CANCELLED}),
    SagaState.FAILED: frozenset(),
    SagaState.CANCELLED: frozenset(),
}

FINAL = frozenset({SagaState.COMPLETED, SagaState.FAILED, SagaState.CANCELLED})
MONEY_MAY_BE_TAKEN = frozenset({SagaState.CONFIRMING, SagaState.APPROVED, SagaState.RECORDED})
"""States from which a compensation must look for a payment to refund."""
SEATS_MAY_BE_SOLD = frozenset({SagaState.RECORDED})
"""States from which a compensation must put sold seats back on sale (not only release)."""


class IllegalMove(ValueError):
    pass


def check_move(current: str, to: SagaState) -> SagaState:
    """`to`, if the saga may go there from `current`; IllegalMove otherwise."""
    state = SagaState(current)
    if to not in MOVES[state]:
        raise IllegalMove(f"a saga in {state} cannot move to {to}")
    return to


def is_final(state: str) -> bool:
    return SagaState(state) in FINAL
