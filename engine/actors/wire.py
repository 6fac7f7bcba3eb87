"""The msgpack form of outcomes between shard actors and their callers (commands have theirs
in `engine.core.command_wire`).

Ray passes `bytes` through without pickling, and msgpack encodes the core's named tuples as
arrays at C speed; each outcome is tagged so the caller rebuilds the same objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from engine.core.command_wire import encode
from engine.core.commands import Placed, QueueCommand, SeatCommand
from engine.core.errors import DomainError, error_from_code
from engine.core.inventory import HoldView
from engine.core.ledger import Quota
from engine.core.waiting_room import QueueStatus, TickResult

_TAGS: dict[type, str] = {HoldView: "v", QueueStatus: "q", Quota: "Q", TickResult: "t",
                          Placed: "p"}


def encode_commands(commands: Sequence[SeatCommand | QueueCommand]) -> bytes:
    return encode(commands)


def encode_outcomes(outcomes: Sequence[Any]) -> bytes:
    tagged = []
    for outcome in outcomes:
        tag = _TAGS.get(type(outcome))
        if tag is not None:
            tagged.append((tag, outcome))
        elif isinstance(outcome, DomainError):
            tagged.append(("e", (outcome.code, outcome.message, outcome.details)))
        else:
            tagged.append(("r", outcome))
    return msgpack.packb(tagged, use_bin_type=True)  # type: ignore[no-any-return]


def decode_outcomes(payload: bytes) -> list[Any]:
    out: list[Any] = []
    for tag, value in msgpack.unpackb(payload, raw=False, use_list=True):
        if tag == "v":
            out.append(HoldView.from_list(value))
        elif tag == "e":
            out.append(error_from_code(value[0], value[1], value[2]))
        elif tag == "q":
            out.append(QueueStatus(*value))
        elif tag == "Q":
            out.append(Quota(*value))
        elif tag == "p":
            view, after = value
            out.append(Placed(HoldView.from_list(view),
                              tuple(None if key is None else tuple(key) for key in after)))
        elif tag == "t":
            opened, admitted, dropped, expired = value
            out.append(TickResult(opened, tuple(tuple(a) for a in admitted), dropped, expired))
        else:
            out.append(value)
    return out
