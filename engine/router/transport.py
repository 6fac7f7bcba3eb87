"""The port through which the router reaches an event's seat shards."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol


class SeatTransport(Protocol):
    def call(self, shard: int, command: tuple[Any, ...]) -> Awaitable[Any]:
        """Applies one command on a shard once it is durable; returns its outcome, a value or
        the DomainError it was refused with. Raises when the shard cannot be reached (the
        command may or may not have been applied: retry it with the same key)."""
        ...

    async def read(self, shard: int, name: str, *args: Any) -> Any:
        """A read of a shard's durable state: `hold_info`, `availability`, `seat_states`."""
        ...
