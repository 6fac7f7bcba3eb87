from __future__ import annotations

import pytest

from api.security.tickets import InvalidTicket, QueueTickets

SECRET = b"s" * 32


def test_a_ticket_proves_its_place_for_its_event_and_user_only() -> None:
    tickets = QueueTickets(SECRET)
    ticket = tickets.issue("e1", "u1", 42)
    for _ in range(2):  # checked, then remembered
        assert tickets.verify(ticket, event_id="e1", user_id="u1") == 42
        with pytest.raises(InvalidTicket, match="another event or user"):
            tickets.verify(ticket, event_id="e1", user_id="u2")
        with pytest.raises(InvalidTicket, match="another event or user"):
            tickets.verify(ticket, event_id="e2", user_id="u1")


def test_forged_and_malformed_tickets_are_refused_every_time() -> None:
    tickets = QueueTickets(SECRET)
    ticket = tickets.issue("e1", "u1", 42)
    payload, _, signature = ticket.partition(".")
    forged = QueueTickets(b"x" * 32).issue("e1", "u1", 1)
    for bad in (forged, f"{payload}.{signature[:-2]}AA", "", "nodot", f"{payload}."):
        for _ in range(2):
            with pytest.raises(InvalidTicket):
                tickets.verify(bad, event_id="e1", user_id="u1")
    assert len(tickets._verified) == 0


def test_remembered_tickets_are_bounded() -> None:
    tickets = QueueTickets(SECRET, remember=3)
    for seq in range(5):
        tickets.verify(tickets.issue("e", "u", seq), event_id="e", user_id="u")
    assert len(tickets._verified) == 3


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        QueueTickets(b"short")
