"""The engine's one way to build a Redis client: a single Redis, or a Redis Cluster (e.g.
ElastiCache in cluster mode, `rediss://` for TLS) when `TIKETI_REDIS_CLUSTER` says so.

Cluster rules the engine keeps (see `engine.store.journal`): every Lua script and every
multi-key command touches keys of one hash slot (keys share a `{tag}`); pipelines that span
slots are non-transactional (the cluster client splits them by node); MULTI is not used."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError

RedisClient: TypeAlias = aioredis.Redis | aioredis.RedisCluster
"""What the engine's Redis code accepts: both clients offer the commands it uses."""


def connect_redis(url: str, *, cluster: bool, **kw: Any) -> RedisClient:
    """A client of the Redis at `url`; `cluster`: the URL names a node (or the configuration
    endpoint) of a Redis Cluster, whose other nodes the client discovers. Connects lazily."""
    if cluster:
        return aioredis.RedisCluster.from_url(url, **kw)
    return aioredis.Redis.from_url(url, **kw)


def slot_of(key: str | bytes) -> int:
    """The cluster hash slot of `key` (its `{tag}` if it has one)."""
    return key_slot(key.encode() if isinstance(key, str) else key)


def same_slot_groups(client: RedisClient, keys: Iterable[str]) -> list[list[str]]:
    """`keys` split so that each group may go in one multi-key command: all of them on a
    single Redis, one group per hash slot on a cluster (order kept within a group)."""
    keys = list(keys)
    if not isinstance(client, aioredis.RedisCluster):
        return [keys] if keys else []
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(slot_of(key), []).append(key)
    return list(groups.values())


REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)
"""What a Redis call raises when Redis is in trouble: a cluster client also raises
`RedisClusterException` (no node reachable, a slot not covered), which is no `RedisError`."""
