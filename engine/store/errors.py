from __future__ import annotations

from collections.abc import Iterable


class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class SeatAlreadyReserved(Conflict):
    def __init__(self, seat_ids: Iterable[str]) -> None:
        self.seat_ids: list[str] = list(seat_ids)
        super().__init__(f"seats already reserved: {', '.join(self.seat_ids)}")

    def __reduce__(self) -> tuple[type[SeatAlreadyReserved], tuple[list[str]]]:
        return (SeatAlreadyReserved, (self.seat_ids,))


class InvalidTransition(Conflict):
    pass
