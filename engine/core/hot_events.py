"""When a sale's line says it will be hot: the seat shards an upcoming sale is planned over.

A seat shard is one actor on one core; every hold, confirm and release of its sections runs
there. A line longer than a shard can serve in the first minutes of the sale asks for more
shards, while there is still nothing to move: before the sale opens, no seat is held or sold,
so a wider plan is only a new split of the sections. Plans only widen (a line that shrinks
again does not undo one), a section is never split, and there is a ceiling."""

from __future__ import annotations

import math


def seat_shards_for(line: int, *, current: int, units: int, users_per_shard: int,
                    max_shards: int) -> int:
    """Seat shards for `line` users waiting for the sale: one per `users_per_shard`, never
    fewer than `current`, never more than the venue's `units` (sections and ticket types,
    which are not split) or `max_shards`."""
    if users_per_shard < 1 or max_shards < 1:
        raise ValueError("users per shard and the ceiling must be positive")
    wanted = math.ceil(line / users_per_shard) if line > 0 else 1
    return max(current, min(wanted, units, max_shards))
