"""Creates and finds an event's shards: K seat shards (sections split by `plan_shards`) and
one queue shard, as named, detached Ray actors that restart when they crash.

Seat shards belong to a plan generation (`events.plan_generation`): a plan widened before
the sale opens gets new actor names and journals, so its shards never meet the state of the
plan they replace, which `retire_seats` stops and deletes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import ray

from engine.actors.config import ShardConfig
from engine.actors.errors import engine_error
from engine.actors.shards import QueueShard, SeatShard

SHARD_OPTIONS: dict[str, Any] = {
    "max_restarts": -1,
    "max_task_retries": -1,
    "lifetime": "detached",
    "max_concurrency": 1000,
}
SHUTDOWN_WAIT_S = 10.0
"""How long closing an event waits for a shard to stop cleanly (a call to a restarting actor
is retried without end) before killing it."""

RemoteSeatShard = ray.remote(SeatShard)
RemoteQueueShard = ray.remote(QueueShard)


Handle = Any  # a Ray ActorHandle; Ray's stubs cannot type calls to the actor's methods


@dataclass(frozen=True)
class EventShards:
    event_id: str
    seats: tuple[Handle, ...]
    queue: Handle
    generation: int = 0


def seat_actor_name(event_id: str, shard: int, generation: int = 0) -> str:
    if generation == 0:
        return f"seats:{event_id}:{shard}"
    return f"seats:{event_id}:g{generation}:{shard}"


def queue_actor_name(event_id: str) -> str:
    return f"queue:{event_id}"


class ShardDirectory:
    def __init__(
        self,
        namespace: str,
        config_for: Callable[[str, int], ShardConfig],
        *,
        shard_cpus: float = 0.05,
    ) -> None:
        self.namespace = namespace
        self._config_for = config_for
        self._options = {**SHARD_OPTIONS, "num_cpus": shard_cpus, "namespace": namespace}
        self._cache: dict[str, EventShards] = {}

    async def open_event(self, event_id: str, shard_count: int, generation: int = 0
                         ) -> tuple[EventShards, list[dict[str, Any]]]:
        """Creates the event's shards if they do not exist and waits until all have restored
        their state; returns the handles and what each seat shard reported. Seat shards of
        the plan before `generation` that are still running (the re-plan that replaced them
        did not finish) are stopped."""
        if generation > 0:
            self._stop_leftovers(event_id, generation - 1)
        seats = tuple(
            self._spawn(RemoteSeatShard, seat_actor_name(event_id, k, generation),
                        replace(self._config_for(event_id, k), generation=generation))
            for k in range(shard_count)
        )
        queue = self._spawn(RemoteQueueShard, queue_actor_name(event_id),
                            self._config_for(event_id, -1))
        try:
            infos: list[dict[str, Any]] = await asyncio.gather(
                *(h.ready.remote() for h in seats))
            await queue.ready.remote()
        except Exception as exc:
            raise engine_error(exc) from None
        shards = EventShards(event_id, seats, queue, generation)
        self._cache[event_id] = shards
        return shards, list(infos)

    def _stop_leftovers(self, event_id: str, generation: int) -> None:
        k = 0
        while self._kill(seat_actor_name(event_id, k, generation)):
            k += 1

    def _kill(self, name: str) -> bool:
        """Stops the named actor for good; False if there is none."""
        try:
            handle = ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return False
        ray.kill(handle, no_restart=True)
        return True

    def _spawn(self, remote_class: Any, name: str, config: ShardConfig) -> Handle:
        handle = remote_class.options(name=name, get_if_exists=True, **self._options).remote(
            config)
        return handle

    def find_event(self, event_id: str, shard_count: int, generation: int = 0) -> EventShards:
        """The handles of an event's running shards (raises ValueError if they are absent)."""
        cached = self._cache.get(event_id)
        if cached is not None and cached.generation == generation and (
                len(cached.seats) == shard_count):
            return cached
        seats = tuple(ray.get_actor(seat_actor_name(event_id, k, generation),
                                    namespace=self.namespace)
                      for k in range(shard_count))
        queue = ray.get_actor(queue_actor_name(event_id), namespace=self.namespace)
        shards = EventShards(event_id, seats, queue, generation)
        self._cache[event_id] = shards
        return shards

    async def retire_seats(self, event_id: str, generation: int, shard_count: int,
                           wait_s: float = 30.0) -> list[str]:
        """Stops the seat shards of one plan generation for good, running or not, waits
        until their names are free, and returns their journal names (for the caller to
        delete once nothing can write them)."""
        cached = self._cache.get(event_id)
        if cached is not None and cached.generation == generation:
            del self._cache[event_id]
        for k in range(shard_count):
            name = seat_actor_name(event_id, k, generation)
            if not self._kill(name):
                continue
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                try:
                    ray.get_actor(name, namespace=self.namespace)
                except ValueError:
                    break
                await asyncio.sleep(0.1)
        return [replace(self._config_for(event_id, k), generation=generation).seat_journal
                for k in range(shard_count)]

    async def close_event(self, event_id: str, shard_count: int, generation: int = 0) -> None:
        """Stops the event's shards for good (their journals stay in Redis)."""
        try:
            shards = self.find_event(event_id, shard_count, generation)
        except ValueError:
            return
        for handle in (*shards.seats, shards.queue):
            # A shard that cannot stop cleanly in time is killed all the same.
            with contextlib.suppress(ray.exceptions.RayActorError, TimeoutError):
                await asyncio.wait_for(handle.shutdown.remote(), SHUTDOWN_WAIT_S)
            ray.kill(handle, no_restart=True)
        self._cache.pop(event_id, None)
