"""A seat lock's answer is written without building its pydantic model, so it is held here to
the model's bytes: the documented schema is what clients get."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from api.services.seats import HoldOut, TicketCount, hold_json
from engine.core.inventory import HoldView

EVENT = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
texts = st.text(min_size=1, max_size=12)
stamps = st.one_of(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
                   st.integers(min_value=0, max_value=4_102_444_800).map(float))


def _model(view: HoldView) -> bytes:
    return HoldOut(
        hold_id=view.hold_id, event_id=EVENT, status=view.status,
        seat_ids=list(view.seat_ids),
        tickets=[TicketCount(ticket_type_id=t, quantity=q) for t, q in view.ga],
        amount=view.amount, created_at=datetime.fromtimestamp(view.created_at, UTC),
        expires_at=datetime.fromtimestamp(view.expires_at, UTC), extensions=view.extensions,
    ).model_dump_json(by_alias=True).encode()


@given(st.builds(
    HoldView, hold_id=texts, user_id=texts,
    seat_ids=st.lists(texts, max_size=4).map(tuple),
    ga=st.lists(st.tuples(texts, st.integers(1, 10)), max_size=2).map(tuple),
    amount=st.integers(0, 10**9), created_at=stamps, expires_at=stamps,
    extensions=st.integers(0, 5), status=st.sampled_from(["held", "sold", "released"])))
def test_the_answer_is_the_models_json_byte_for_byte(view: HoldView) -> None:
    assert hold_json(EVENT, view) == _model(view)


def test_a_typical_hold() -> None:
    view = HoldView("0.abc", "u1", ("101-A-1", "101-A-2"), (), 300_000, 1_750_000_000.25,
                    1_750_000_600.0, 0, "held")
    assert hold_json(EVENT, view) == _model(view)
    assert b'"createdAt":"2025-06-15T15:06:40.250000Z"' in hold_json(EVENT, view)
