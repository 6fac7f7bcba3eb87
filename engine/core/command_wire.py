"""The one place that knows how commands look on the wire and in the journal.

A command is the msgpack array `[tag, *fields]` (`engine.core.commands`). A batch is an
array of commands. A journal entry is `[JOURNAL_FORMAT, now, [command, ...]]`; entries of the
first format, `[now, [command, ...]]` with `(op, *args)` tuples, were written before commands
were typed: their tuples have the same layout as today's arrays, so both formats decode
through the same typed conversion (`entry_commands`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from engine.core.commands import QueueCommand, SeatCommand
from engine.core.errors import InvalidCommand

JOURNAL_FORMAT = 2
"""The format of the journal entries written now (1: untyped tuples, before format numbers)."""

_encoder = msgspec.msgpack.Encoder()
_seat_batch = msgspec.msgpack.Decoder(list[SeatCommand])
_queue_batch = msgspec.msgpack.Decoder(list[QueueCommand])


def encode(value: Any) -> bytes:
    """Commands, batches, entries (and any plain data beside them) as msgpack."""
    return _encoder.encode(value)


def decode_seat_batch(payload: bytes) -> list[SeatCommand | InvalidCommand]:
    """A batch of seat commands; a command that is not one (a caller's bug) becomes the
    InvalidCommand it is answered with, without failing the rest of the batch."""
    return _batch(payload, _seat_batch, SeatCommand)


def decode_queue_batch(payload: bytes) -> list[QueueCommand | InvalidCommand]:
    return _batch(payload, _queue_batch, QueueCommand)


def _batch(payload: bytes, decoder: msgspec.msgpack.Decoder[Any], kind: Any) -> list[Any]:
    try:
        return list(decoder.decode(payload))
    except msgspec.ValidationError:
        return [_one(raw, kind) for raw in msgspec.msgpack.decode(payload)]


def _one(raw: Any, kind: Any) -> Any:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        return InvalidCommand(f"not a command: {exc}")


def journal_entry(now: float, commands: Sequence[SeatCommand | QueueCommand]) -> list[Any]:
    return [JOURNAL_FORMAT, now, commands]


def entry_time_and_commands(entry: Sequence[Any]) -> tuple[float, list[Any]]:
    """An entry's time and raw commands, in either format."""
    if len(entry) == 2:  # format 1: [now, commands]
        now, commands = entry
        return float(now), list(commands)
    version, now, commands = entry
    if version != JOURNAL_FORMAT:
        raise ValueError(f"journal entry of unknown format {version!r}")
    return float(now), list(commands)


def seat_commands(raw: Sequence[Any]) -> list[SeatCommand]:
    """The typed seat commands of a journal entry (raw arrays of either format)."""
    return [msgspec.convert(cmd, SeatCommand) for cmd in raw]


def queue_commands(raw: Sequence[Any]) -> list[QueueCommand]:
    return [msgspec.convert(cmd, QueueCommand) for cmd in raw]
