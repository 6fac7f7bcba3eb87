"""A seat shard's state rebuilt offline from its snapshot and journal, the way a restarting
shard rebuilds it (`ShardHost.start`), but without claiming the journal and without the
reconciliation with PostgreSQL that follows: that step would hide what the audit looks for."""

from __future__ import annotations

from engine.audit.checks import LiveHold, ShardView
from engine.core.clock import ManualClock
from engine.core.command_wire import seat_commands
from engine.core.inventory import HoldPolicy, SeatInventory
from engine.core.ledger import TicketLedger
from engine.core.shard_state import SeatShardState
from engine.core.venue import Venue
from engine.store.journal import Recovered


def rebuild_seat_shard(venue: Venue, policy: HoldPolicy, recovered: Recovered) -> SeatShardState:
    """`venue` is the part of the event the shard owns; `policy` the event's hold policy (a
    snapshot brings its own). A shard that never ran comes back empty."""
    clock = ManualClock()
    state = SeatShardState(SeatInventory(venue, policy, clock, hold_prefix=""),
                           TicketLedger(policy.user_limit, clock))
    if recovered.snapshot is not None:
        state.restore(recovered.snapshot)
    for entry in recovered.entries:
        clock.set(entry.now)
        for cmd in seat_commands(entry.commands):
            state.apply(cmd)
    state.pull_events()
    return state


def shard_view(shard: int, state: SeatShardState, recovered: Recovered) -> ShardView:
    inventory = state.inventory
    return ShardView(
        shard=shard,
        sold={s: sale.hold_id for sale in inventory.sales() for s in sale.seat_ids},
        holds=tuple(LiveHold(h.hold_id, h.user_id, h.seat_ids, h.tickets, h.expires_at)
                    for h in inventory.holds()),
        seq=recovered.last_seq,
        snapshot_seq=recovered.snapshot_seq,
        replayed=len(recovered.entries),
        started=recovered.snapshot is not None or bool(recovered.entries),
    )
