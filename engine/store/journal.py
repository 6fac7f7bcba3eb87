"""A shard's journal and snapshots in Redis.

Keys share one hash tag per shard, so a Redis Cluster keeps them in one slot:
`{ns}:{<shard>}:journal` (a stream, entry id `<seq>-0`, field `d` = a journal entry of
`engine.core.command_wire`), `{ns}:{<shard>}:snapshot` (msgpack `[seq, state]`),
`{ns}:{<shard>}:epoch` (fencing counter) and `{ns}:{<shard>}:events` (the shard's domain
events, a capped stream). Every write runs in a script that first checks the writer's epoch,
so a stale incarnation of a shard can never write after a newer one has claimed it. The
appends and snapshots queued while a write was under way go in one call of that script (one
round trip, and no pipeline: a Redis Cluster client refuses EVALSHA in pipelines)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, cast

import msgpack
from redis.exceptions import NoScriptError, ResponseError

from engine.core.command_wire import encode, entry_time_and_commands, journal_entry
from engine.store.redis_client import RedisClient

_WRITE = files("engine.store").joinpath("journal_write.lua").read_text(encoding="utf-8")
"""The write script (`journal_write.lua`): an epoch check, then appends and snapshots."""


def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


class Fenced(RuntimeError):
    """A newer incarnation of this shard has claimed its journal."""


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    now: float
    commands: list[Any]
    """Raw, in the wire form: the shard's state type turns them into commands."""


@dataclass(frozen=True)
class Recovered:
    snapshot_seq: int
    snapshot: Any | None
    entries: list[JournalEntry]

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else self.snapshot_seq


def journal_key(namespace: str, shard: str, part: str) -> str:
    """One of a shard journal's keys (`epoch`, `journal`, `snapshot`, `events`)."""
    return f"{namespace}:{{{shard}}}:{part}"


class ShardJournal:
    def __init__(
        self, client: RedisClient, namespace: str, shard: str, *, events_maxlen: int = 100_000
    ) -> None:
        self.client = client
        self.epoch_key = journal_key(namespace, shard, "epoch")
        self.journal_key = journal_key(namespace, shard, "journal")
        self.snapshot_key = journal_key(namespace, shard, "snapshot")
        self.events_key = journal_key(namespace, shard, "events")
        self.keys = [self.epoch_key, self.journal_key, self.events_key, self.snapshot_key]
        """What the write script touches: one hash slot."""
        self.events_maxlen = events_maxlen
        self.epoch = 0
        self._sha = _sha1(_WRITE)

    async def claim(self) -> int:
        """Becomes the only writer of this journal; earlier writers are fenced off."""
        await self._load_scripts()
        self.epoch = int(await self.client.incr(self.epoch_key))
        return self.epoch

    async def _load_scripts(self) -> None:
        await self.client.script_load(_WRITE)  # on every primary of a cluster

    async def recover(self) -> Recovered:
        raw = cast(bytes | None, await self.client.get(self.snapshot_key))
        snap_seq, snapshot = (0, None) if raw is None else unpack(raw)
        entries = []
        for entry_id, fields in await self._stream(self.journal_key, f"{snap_seq + 1}-0"):
            seq = int(entry_id.split(b"-")[0])
            now, commands = entry_time_and_commands(unpack(fields[b"d"]))
            entries.append(JournalEntry(seq, now, commands))
        return Recovered(snap_seq, snapshot, entries)

    async def _stream(
        self, key: str, start: str = "-", count: int | None = None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        rows = await self.client.xrange(key, min=start, count=count)
        return cast(list[tuple[bytes, dict[bytes, bytes]]], rows or [])

    def append_args(
        self, seq: int, now: float, commands: Sequence[Any], events: Sequence[Any]
    ) -> list[Any]:
        payload = encode(journal_entry(now, commands))
        events_payload = pack(events) if events else b""
        return ["a", f"{seq}-0", payload, events_payload, self.events_maxlen]

    def snapshot_args(self, seq: int, state: Any) -> list[Any]:
        return ["s", f"{seq + 1}-0", pack([seq, state])]

    async def write(self, ops: Sequence[tuple[str, list[Any]]]) -> None:
        """Runs appends and snapshot writes (`append_args`, `snapshot_args`), in order, in one
        round trip."""
        args = [self.epoch]
        for _, op in ops:
            args.extend(op)
        try:
            await self._write(args)
        except NoScriptError:
            await self._load_scripts()  # the server lost its script cache (a restart)
            await self._write(args)
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(f"{self.journal_key} was claimed by a newer writer") from exc
            raise

    async def _write(self, args: list[Any]) -> None:
        await self.client.evalsha(self._sha, len(self.keys), *self.keys, *args)

    async def reset(self) -> None:
        """Deletes this shard's journal, snapshot and events (a new shard state begins)."""
        await self.client.delete(self.journal_key, self.snapshot_key, self.events_key)

    async def read_events(self, count: int = 1_000) -> list[Any]:
        out: list[Any] = []
        for _, fields in await self._stream(self.events_key, count=count):
            out.extend(unpack(fields[b"d"]))
        return out
