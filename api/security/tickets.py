"""Queue tickets: proof of a user's place in an event's line, signed with HMAC-SHA256, so any
replica can answer "where am I?" from the ticket and the queue's published summary."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import OrderedDict


class InvalidTicket(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class QueueTickets:
    def __init__(self, secret: bytes, *, remember: int = 100_000) -> None:
        if len(secret) < 32:
            raise ValueError("a ticket secret needs at least 32 bytes")
        self._secret = secret
        self._remember = remember
        self._verified: OrderedDict[str, tuple[str, str, int]] = OrderedDict()
        """Tickets that passed the check (a waiting user shows the same one every poll)."""

    @classmethod
    def derived_from(cls, key_material: bytes) -> QueueTickets:
        """A ticket key derived from other secret material (the API's signing key)."""
        return cls(hashlib.sha256(b"tiketi-queue-ticket\x00" + key_material).digest())

    def issue(self, event_id: str, user_id: str, seq: int) -> str:
        payload = _b64(json.dumps([event_id, user_id, seq], separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def verify(self, ticket: str, *, event_id: str, user_id: str) -> int:
        """The place in line the ticket proves, for this event and user."""
        known = self._verified.get(ticket)
        if known is None:
            known = self._check(ticket)
            self._verified[ticket] = known
            if len(self._verified) > self._remember:
                self._verified.popitem(last=False)
        event, user, seq = known
        if event != event_id or user != user_id:
            raise InvalidTicket("the queue ticket belongs to another event or user")
        return seq

    def _check(self, ticket: str) -> tuple[str, str, int]:
        payload, _, signature = ticket.partition(".")
        if not payload or not signature or not hmac.compare_digest(signature,
                                                                    self._sign(payload)):
            raise InvalidTicket("the queue ticket is not valid")
        try:
            event, user, seq = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            raise InvalidTicket("the queue ticket is malformed") from None
        if not isinstance(event, str) or not isinstance(user, str) or not isinstance(seq, int):
            raise InvalidTicket("the queue ticket is malformed")
        return event, user, seq

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()[:24])
