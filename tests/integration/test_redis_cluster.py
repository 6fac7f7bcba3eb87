"""The engine on a real three-node Redis Cluster (`TIKETI_REDIS_CLUSTER=1`): the clients it
builds, the shard journal (append, snapshot, recovery, fencing) and the audit that reads it,
the queue summary and the autoscaling totals read over slots on different nodes, the rate
limiter, the outbox stream and its consumer groups, and the sold-out watcher reading streams
of several slots. Every script and multi-key command must stay within one hash slot."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import MovedError, RedisClusterException, ResponseError

from api.context import ApiContext
from api.ratelimit import RateLimiter
from api.services.queue_board import QueueBoard
from api.services.soldout import SoldOutWatcher, events_stream
from engine.actors.config import ShardConfig, queue_summary_key
from engine.audit.command import run_audit
from engine.core.clock import ManualClock
from engine.core.commands import Hold, HoldBest, Join
from engine.core.errors import ShardUnavailable
from engine.core.waiting_room import QueueSummary
from engine.saga import outbox
from engine.serve.autoscaling import ADMITTED, WAITING, line_totals
from engine.settings import Settings, ShardSettings
from engine.store import outbox_repo
from engine.store.journal import _WRITE, ShardJournal, unpack
from engine.store.pool import connect, create_pool
from engine.store.records import EventRecord
from engine.store.redis_client import RedisClient, connect_redis, same_slot_groups, slot_of
from tests.integration import test_shard_services as shard_tests
from tests.integration.redis_cluster import LocalRedisCluster
from tests.integration.test_audit import buy, hold
from tests.integration.test_shard_services import Services, state_of
from tests.sales import new_user

make_event = shard_tests.make_event
services = shard_tests.services


@pytest.fixture
def namespace() -> str:
    return f"cl{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def cluster_client(redis_cluster: LocalRedisCluster) -> AsyncIterator[RedisClient]:
    client = connect_redis(redis_cluster.url, cluster=True)
    assert isinstance(client, aioredis.RedisCluster)
    await client.initialize()
    yield client
    await client.aclose()


@pytest.fixture
def cluster_config(database: str, redis_cluster: LocalRedisCluster,
                   namespace: str) -> Callable[..., ShardConfig]:
    def make(event: EventRecord, shard: int = 0, **kw: Any) -> ShardConfig:
        return ShardConfig(event_id=str(event.id), shard=shard, database_url=database,
                           redis_url=redis_cluster.url, namespace=namespace,
                           redis_cluster=True, **kw)

    return make


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=4)
    yield pool
    await pool.close()


def cluster(client: RedisClient) -> aioredis.RedisCluster:
    assert isinstance(client, aioredis.RedisCluster)
    return client


def node_of(client: RedisClient, key: str) -> str:
    node = cluster(client).get_node_from_key(key)
    assert node is not None
    return str(node.name)


def spread(client: RedisClient, keys: Iterable[str], nodes: int = 2) -> list[str]:
    """The first keys that between them land on `nodes` different nodes, one per node."""
    picked: dict[str, str] = {}
    for key in keys:
        picked.setdefault(node_of(client, key), key)
        if len(picked) == nodes:
            return list(picked.values())
    raise AssertionError("the keys all land on too few nodes")


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_the_cluster_flag_builds_a_cluster_client(
    redis_cluster: LocalRedisCluster, cluster_client: RedisClient
) -> None:
    assert len(cluster(cluster_client).get_primaries()) == 3
    a, b = spread(cluster_client, (f"probe:{{{n}}}" for n in range(100)))
    assert await cluster_client.set(a, "1") and await cluster_client.set(b, "2")
    assert (await cluster_client.get(a), await cluster_client.get(b)) == (b"1", b"2")

    # Without the flag the engine would talk to the one node of the URL, which owns a third
    # of the slots and redirects the rest.
    plain = connect_redis(redis_cluster.url, cluster=False)
    try:
        assert not isinstance(plain, aioredis.RedisCluster)
        first = f"127.0.0.1:{redis_cluster.ports[0]}"
        elsewhere = next(k for k in (a, b) if node_of(cluster_client, k) != first)
        with pytest.raises(MovedError):
            await plain.get(elsewhere)
        # Multi-key commands are grouped per slot on a cluster only.
        assert same_slot_groups(plain, [a, b]) == [[a, b]]
        assert sorted(same_slot_groups(cluster_client, [a, b, a])) == sorted([[a, a], [b]])
    finally:
        await plain.aclose()


async def test_a_journals_keys_share_one_slot_and_a_cross_slot_script_is_refused(
    redis_cluster: LocalRedisCluster, cluster_client: RedisClient, namespace: str
) -> None:
    journal = ShardJournal(cluster_client, namespace, "e1:seats:0")
    other = ShardJournal(cluster_client, namespace, "e1:seats:1")
    keys = journal.keys
    assert sorted(keys) == sorted([journal.epoch_key, journal.journal_key,
                                   journal.snapshot_key, journal.events_key])
    assert len({slot_of(k) for k in keys}) == 1
    assert slot_of(journal.journal_key) != slot_of(other.journal_key)
    # Without the tag the keys of one journal would scatter over the slots.
    assert len({slot_of(k.replace("{", "").replace("}", "")) for k in keys}) > 1

    await journal.claim()
    await other.claim()
    await journal.write([("append", journal.append_args(1, 1.0, [("x",)], [("E", [1])]))])
    assert await cluster_client.xlen(journal.journal_key) == 1
    assert await cluster_client.xlen(journal.events_key) == 1

    # The same script over keys of two journals: refused by the client, and by the server.
    crossed = [journal.epoch_key, other.journal_key, journal.events_key, journal.snapshot_key]
    args = [journal.epoch, *journal.append_args(2, 2.0, [("y",)], [])]
    with pytest.raises(RedisClusterException, match="same key slot"):
        await cluster_client.eval(_WRITE, len(crossed), *crossed, *args)
    owner = cluster(cluster_client).get_node_from_key(journal.epoch_key)
    assert owner is not None
    with redis_cluster.client(int(owner.port)) as node, \
            pytest.raises(ResponseError, match="same slot"):
        node.eval(_WRITE, len(crossed), *crossed, *args)
    assert await cluster_client.xlen(journal.journal_key) == 1
    assert await cluster_client.xlen(other.journal_key) == 0

    # A node that lost its scripts (a restart, a failover) gets them again.
    assert await cluster_client.script_flush()
    await journal.write([("append", journal.append_args(2, 2.0, [("y",)], [])),
                         ("snapshot", journal.snapshot_args(2, {"s": 1}))])
    recovered = await journal.recover()
    assert (recovered.snapshot_seq, recovered.snapshot, recovered.entries) == (2, {"s": 1}, [])

    await journal.reset()  # one DEL of three keys
    assert await cluster_client.exists(*keys) == 1, "only the epoch stays"


async def test_a_seat_shard_on_the_cluster_recovers_what_it_acknowledged_and_is_fenced(
    make_event: Callable[..., Any], cluster_config: Callable[..., ShardConfig],
    services: Services, database: str, cluster_client: RedisClient, namespace: str,
    redis_cluster: LocalRedisCluster,
) -> None:
    event = await make_event()
    cfg = cluster_config(event, snapshot_every_ops=4)
    first = await services.seats(cfg)
    assert isinstance(first.redis, aioredis.RedisCluster)
    conn = await connect(database)
    try:
        users = [await new_user(conn, f"fan{i}") for i in range(6)]
        # Concurrent holds queue up, so the host writes several appends (and a snapshot) in
        # one call of the journal's script.
        views = await asyncio.gather(*(hold(first, u, f"k{i}") for i, u in enumerate(users)))
        assert first.host is not None
        assert first.host.stats["writes"] < first.host.stats["batches"]
        sold = [await buy(conn, first, event, f"buyer{i}") for i in range(2)]
    finally:
        await conn.close()
    acknowledged = first.host.seq
    expected = await state_of(first)
    await first.close()
    services.started.remove(first)

    journal = ShardJournal(cluster_client, namespace, cfg.seat_journal)
    keys = [journal.epoch_key, journal.journal_key, journal.snapshot_key, journal.events_key]
    assert len({slot_of(k) for k in keys}) == 1
    assert await cluster_client.exists(*keys) == 4
    recovered = await journal.recover()
    assert recovered.snapshot_seq > 0, "a snapshot was written and the journal trimmed"
    assert recovered.last_seq == acknowledged
    assert [e.seq for e in recovered.entries] == list(
        range(recovered.snapshot_seq + 1, acknowledged + 1))

    second = await services.seats(cfg)
    assert await state_of(second) == expected
    (again,) = await second.submit([HoldBest(views[0].user_id, 1, "k0")])
    assert again == views[0], "the restarted shard knows the acknowledged hold"

    free = await second.read(lambda s: next(
        seat for seat in s.inventory.seat_ids if s.inventory.seat_status(seat) == "available"))
    third = await services.seats(cfg)
    with pytest.raises(ShardUnavailable):
        await second.submit([Hold("late", [free], "late")])
    assert services.fatal, "the stale writer was told to end itself"
    assert (await third.submit([Hold("late", [free], "late")]))[0].status == "held"
    for service in list(services.started):
        await service.close()
        services.started.remove(service)

    result = await run_audit(database, redis_cluster.url, namespace, event.id,
                             redis_cluster=True)
    assert result.ok, result.violations
    assert result.summary["sold_seats_shards"] == sum(len(v.seat_ids) for v in sold) == 2


async def test_queue_summaries_in_different_slots_feed_the_board_and_the_autoscaler(
    make_event: Callable[..., Any], cluster_config: Callable[..., ShardConfig],
    services: Services, cluster_client: RedisClient, namespace: str, pool: asyncpg.Pool,
) -> None:
    events: dict[str, EventRecord] = {}
    for _ in range(12):  # until two summaries live on different nodes
        event = await make_event(opens_in=600.0)
        events[queue_summary_key(namespace, str(event.id))] = event
        if len({node_of(cluster_client, k) for k in events}) > 1:
            break
    key_a, key_b = spread(cluster_client, events)
    a, b = events[key_a], events[key_b]
    joined = {key_a: 5, key_b: 3}
    for key, event in ((key_a, a), (key_b, b)):
        queue = await services.queue(cluster_config(event, shard=-1, queue_tick_s=0.05,
                                                    queue_publish_s=0.05))
        for i in range(joined[key]):
            await queue.submit([Join(f"fan{i}")])

    expected = {WAITING: 8.0, ADMITTED: 0.0}

    async def totals_caught_up() -> bool:
        return await line_totals(pool, cluster_client, namespace) == expected

    await eventually(totals_caught_up)
    # One MGET over both summaries would cross slots: why the autoscaler pipelines GETs.
    with pytest.raises(RedisClusterException, match="same key slot"):
        await cluster_client.mget(key_a, key_b)

    class NoEngine:
        async def queue(self, event_id: str) -> Any:
            raise AssertionError("the board asked the actor though the summary is in Redis")

    ctx = cast(ApiContext, SimpleNamespace(
        redis=cluster_client, engine=NoEngine(),
        settings=Settings(namespace=namespace, shards=ShardSettings(queue_publish_s=0.05))))
    board = QueueBoard(ctx)
    for key, event in ((key_a, a), (key_b, b)):
        summary = await board.summary(str(event.id))
        assert summary is not None
        assert summary.waiting + summary.prequeue == joined[key]
        assert summary.seed_commitment == event.queue_seed_hash
        raw = await cluster_client.get(key)
        assert QueueSummary.from_list(unpack(raw)).version == summary.version
    assert board.actor_calls == 0


async def test_rate_limit_replicas_share_counts_over_the_cluster(
    redis_cluster: LocalRedisCluster, cluster_client: RedisClient, namespace: str
) -> None:
    limit, window_s = 100, 60.0
    clock = ManualClock(28_333_334 * window_s + 10)
    replicas = [RateLimiter(connect_redis(redis_cluster.url, cluster=True), limit=limit,
                            window_s=window_s, namespace=namespace, clock=clock.now)
                for _ in range(2)]
    index = int(clock.now() // window_s)
    subjects = [s.split("{")[1].split("}")[0] for s in spread(cluster_client, (
        replicas[0]._key(f"user:{n}", index) for n in range(100)))]
    try:
        first, second = replicas
        counts = (60, 30)
        for subject, count in zip(subjects, counts, strict=True):
            for _ in range(count):
                assert first.hit(subject).allowed
            assert second.hit(subject).remaining == limit - 1
        await first.sync()
        await second.sync()  # one round trip over both nodes
        for subject, count in zip(subjects, counts, strict=True):
            assert await cluster_client.get(first._key(subject, index)) == b"%d" % (count + 1)
            assert second.hit(subject).remaining == limit - count - 2
            # A subject's windows share a slot, whatever the window.
            assert slot_of(first._key(subject, index)) == slot_of(first._key(subject, index - 1))
        admitted = 0
        while second.hit(subjects[0]).allowed:
            admitted += 1
        assert admitted == limit - counts[0] - 2
        await second.sync()
        assert await cluster_client.get(first._key(subjects[0], index)) == b"%d" % limit
    finally:
        for replica in replicas:
            await replica.close()
            await replica._redis.aclose()


async def test_the_outbox_is_relayed_and_consumed_once_per_group_on_the_cluster(
    pool: asyncpg.Pool, cluster_client: RedisClient, namespace: str
) -> None:
    aggregate = f"agg-{uuid.uuid4().hex}"
    async with pool.acquire() as conn, conn.transaction():
        for kind in ("ReservationCreated", "PaymentCompleted", "TicketSoldOut"):
            await outbox_repo.emit(conn, kind, aggregate_type="reservation",
                                   aggregate_id=aggregate, payload={"n": kind})
        emitted = [e.id for e in await outbox_repo.events_of(conn, aggregate)]
    while await outbox.relay_once(pool, cluster_client, namespace):
        pass
    key = outbox.stream_key(namespace)
    published = {int(f[b"id"]) for _, f in await cluster_client.xrange(key)}
    assert set(emitted) <= published

    handled: dict[str, list[int]] = {"figures": [], "cache": []}
    failed_once: list[int] = []

    def handler(group: str) -> outbox.Handler:
        async def handle(outbox_id: int, event_type: str, payload: dict[str, Any]) -> None:
            if outbox_id not in emitted:
                return
            if group == "figures" and not failed_once:
                failed_once.append(outbox_id)
                raise RuntimeError("the consumer died before acknowledging")
            handled[group].append(outbox_id)

        return handle

    with pytest.raises(RuntimeError, match="died"):
        await outbox.consume_once(cluster_client, namespace, "figures", "c1",
                                  handler("figures"), block_ms=10)
    for group in ("figures", "cache"):
        while await outbox.consume_once(cluster_client, namespace, group, "c1",
                                        handler(group), block_ms=10):
            pass
        pending = await cluster_client.xpending(key, group)
        assert pending["pending"] == 0
    assert handled["figures"] == emitted, "the unacknowledged message came back, once"
    assert handled["cache"] == emitted


async def test_the_sold_out_watcher_reads_streams_of_several_slots(
    cluster_client: RedisClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {events_stream(namespace, e, 0): e for e in (str(uuid.uuid4()) for _ in range(60))}
    streams = spread(cluster_client, ids, nodes=3)
    event_ids = [ids[s] for s in streams]
    journals = [ShardJournal(cluster_client, namespace, f"{e}:seats:0") for e in event_ids]
    assert streams == [j.events_key for j in journals], "the watcher reads the shards' streams"
    assert len({node_of(cluster_client, s) for s in streams}) == 3
    with pytest.raises(RedisClusterException):  # one XREADGROUP cannot read them all
        await cluster_client.xreadgroup("g", "c", dict.fromkeys(streams, ">"))

    ctx = cast(ApiContext, SimpleNamespace(redis=cluster_client,
                                           settings=SimpleNamespace(namespace=namespace)))
    watcher = SoldOutWatcher(ctx, cache=cast(Any, None))
    rechecked: list[str] = []

    async def recheck(event_id: str) -> None:
        rechecked.append(event_id)

    monkeypatch.setattr(watcher, "recheck", recheck)
    for stream, event_id in zip(streams, event_ids, strict=True):
        await cluster_client.xgroup_create(stream, "catalog", id="0", mkstream=True)
        watcher._streams[stream] = event_id
    for journal, scope in zip(journals, ("*", "A", "*"), strict=True):
        await journal.claim()
        await journal.write([("append", journal.append_args(
            1, 1.0, [("x",)], [("SoldOut", [1.0, scope])]))])

    await watcher._read()
    assert sorted(rechecked) == sorted([event_ids[0], event_ids[2]])
    for stream in streams:
        assert (await cluster_client.xpending(stream, "catalog"))["pending"] == 0
    rechecked.clear()
    await watcher._read()
    assert rechecked == []
