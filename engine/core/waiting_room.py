"""The waiting room of one event: an ordered line, admission at a rate and under a cap, and
active sessions for the admitted.

Users who join before the sale opens wait in a pre-queue; at opening they are placed in the
order of SHA-256(seed ‖ user id), where the seed's own SHA-256 was published before opening and
the seed is revealed at opening, so anyone can re-derive the order (`prequeue_order`). Users
who join later are placed in join order. A user's position is the exact number of users ahead
who are still waiting. Waiting users who stop heart-beating are dropped and never admitted."""

from __future__ import annotations

import hashlib
import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from engine.core import events as ev
from engine.core.clock import Clock
from engine.core.errors import InvalidCommand, NotAdmitted, NotInQueue, QueueClosed

PRE, OPEN, CLOSED = "pre", "open", "closed"
WAITING, ADMITTED, LEFT, DROPPED, DONE, EXPIRED = range(6)
STATE_NAMES = ("waiting", "admitted", "left", "dropped", "done", "expired")
SNAPSHOT_VERSION = 1


def seed_commitment(seed: str) -> str:
    """The SHA-256 of a hex seed, published before opening."""
    return hashlib.sha256(bytes.fromhex(seed)).hexdigest()


def prequeue_order(seed: str, user_ids: Iterable[str]) -> list[str]:
    """The order in which pre-queued users are placed at opening."""
    raw = bytes.fromhex(seed)
    return sorted(user_ids, key=lambda u: (hashlib.sha256(raw + u.encode()).digest(), u))


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    admission_rate: float = 50.0
    active_cap: int = 1000
    heartbeat_timeout: float = 30.0
    session_ttl: float = 600.0
    burst: float = 0.0  # tokens the admission bucket can save up; 0 means one second's worth
    eta_window: float = 30.0
    heartbeat_resolution: float = 1.0  # heartbeats within one such interval change nothing

    def __post_init__(self) -> None:
        if self.admission_rate <= 0 or self.active_cap < 1:
            raise InvalidCommand("admission rate and active cap must be positive")
        if min(self.heartbeat_timeout, self.session_ttl, self.eta_window,
               self.heartbeat_resolution) <= 0:
            raise InvalidCommand("timeouts must be positive")

    @property
    def bucket(self) -> float:
        return self.burst if self.burst > 0 else max(1.0, self.admission_rate)


class QueueStatus(NamedTuple):
    user_id: str
    state: str  # prequeue | waiting | admitted | left | dropped | done | expired | none
    seq: int  # place in line; -1 while in the pre-queue
    position: int | None  # users ahead still waiting
    eta_s: float | None
    session_expires_at: float | None


class TickResult(NamedTuple):
    opened: bool
    admitted: tuple[tuple[str, int, float], ...]  # (user, seq, session expiry)
    dropped: int
    expired: int

    @property
    def changed(self) -> bool:
        return self.opened or bool(self.admitted or self.dropped or self.expired)


@dataclass(frozen=True)
class QueueSummary:
    """What a replica needs to answer position and ETA questions without asking the actor.

    `bits` holds one bit per place from `base` on (little-endian): set while still waiting."""

    version: int
    as_of: float
    phase: str
    opens_at: float
    base: int
    next_seq: int
    waiting: int
    prequeue: int
    active: int
    admitted_total: int
    rate: float
    seed_commitment: str
    seed: str | None
    bits: bytes
    _mask: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mask", int.from_bytes(self.bits, "little"))

    def is_waiting(self, seq: int) -> bool:
        k = seq - self.base
        return 0 <= k < len(self.bits) * 8 and bool((self._mask >> k) & 1)

    def position(self, seq: int) -> int | None:
        """Users ahead of place `seq` still waiting, or None if `seq` is not waiting."""
        if not self.is_waiting(seq):
            return None
        k = seq - self.base
        return (self._mask & ((1 << k) - 1)).bit_count()

    def eta(self, position: int) -> float:
        return position / self.rate if self.rate > 0 else float("inf")

    def to_list(self) -> list[Any]:
        return [self.version, self.as_of, self.phase, self.opens_at, self.base, self.next_seq,
                self.waiting, self.prequeue, self.active, self.admitted_total, self.rate,
                self.seed_commitment, self.seed, self.bits]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> QueueSummary:
        return cls(*data)


class _Member:
    __slots__ = ("beat", "joined_at", "seq", "session_expires_at", "state", "user")

    def __init__(self, user: str, seq: int, joined_at: float, beat: int) -> None:
        self.user = user
        self.seq = seq
        self.joined_at = joined_at
        self.beat = beat  # heartbeat interval of the last sign of life
        self.state = WAITING
        self.session_expires_at = 0.0


class _Fenwick:
    """Prefix sums over places: 1 where the place is still waiting."""

    __slots__ = ("size", "tree")

    def __init__(self, size: int) -> None:
        self.size = size
        self.tree = [0] * (size + 1)

    def add(self, i: int, delta: int) -> None:
        tree = self.tree
        n = self.size
        i += 1
        while i <= n:
            tree[i] += delta
            i += i & -i

    def prefix(self, i: int) -> int:
        """Sum over places [0, i)."""
        tree = self.tree
        s = 0
        while i > 0:
            s += tree[i]
            i -= i & -i
        return s

    @classmethod
    def build(cls, size: int, ones: Iterable[int]) -> _Fenwick:
        f = cls(size)
        tree = f.tree
        for i in ones:
            tree[i + 1] += 1
        for i in range(1, size + 1):
            j = i + (i & -i)
            if j <= size:
                tree[j] += tree[i]
        return f


class WaitingRoom:
    def __init__(self, policy: QueuePolicy, clock: Clock, *, opens_at: float, seed: str) -> None:
        try:
            self.seed_commitment = seed_commitment(seed)
        except ValueError as exc:
            raise InvalidCommand("the seed must be hex") from exc
        self.policy = policy
        self.opens_at = opens_at
        self._seed = seed
        self._clock = clock
        self.phase = PRE
        self._opened_at = opens_at
        self._members: dict[str, _Member] = {}
        self._prequeue: dict[str, None] = {}
        self._by_seq: list[str | None] = []
        self._bits = bytearray()
        self._fenwick = _Fenwick(1024)
        self._head = 0
        self._waiting = 0
        self._active = 0
        self._admitted_total = 0
        self._tokens = 0.0
        self._tokens_at = opens_at
        self._admit_log: deque[tuple[int, int]] = deque()
        self._hb_buckets: dict[int, set[str]] = {}
        self._hb_heap: list[int] = []
        self._sessions: list[tuple[float, str]] = []
        self.version = 0
        self.events: list[ev.DomainEvent] = []

    # ------------------------------------------------------------------ commands

    def join(self, user: str) -> QueueStatus:
        """Puts the user in line; joining again keeps the same place."""
        _check_user(user)
        now = self._clock.now()
        if self.phase == CLOSED:
            raise QueueClosed("the queue of this event is closed")
        if self.phase == PRE and now >= self.opens_at:
            self._open(now)
        member = self._members.get(user)
        if member is not None and member.state in (WAITING, ADMITTED):
            if member.state == WAITING:
                self._touch(member, now)
            return self._status(member, now)
        beat = self._beat(now)
        if self.phase == PRE:
            member = _Member(user, -1, now, beat)
            self._prequeue[user] = None
        else:
            member = _Member(user, self._place(user), now, beat)
            self._waiting += 1
        self._members[user] = member
        self._bucket(member)
        self.version += 1
        self.events.append(ev.UserJoined(now, user, member.seq, member.seq < 0))
        return self._status(member, now)

    def leave(self, user: str) -> QueueStatus:
        """Leaves the line, or ends the user's active session."""
        _check_user(user)
        now = self._clock.now()
        member = self._members.get(user)
        if member is None or member.state not in (WAITING, ADMITTED):
            raise NotInQueue("not in this queue", user_id=user)
        if member.state == ADMITTED:
            self._end_session(member, DONE, "left", now)
            member.state = LEFT
        else:
            self._unwait(member)
            member.state = LEFT
            self.events.append(ev.UserLeft(now, user))
        self.version += 1
        return self._status(member, now)

    def heartbeat(self, user: str) -> bool:
        """Marks a waiting user alive. True if that changed state (a new heartbeat interval),
        so the shell journals only heartbeats that matter."""
        member = self._members.get(user)
        if member is None or member.state != WAITING:
            return False
        return self._touch(member, self._clock.now())

    def heartbeat_many(self, users: Iterable[str]) -> list[str]:
        """Heartbeats for many users; returns those whose state changed."""
        now = self._clock.now()
        members = self._members
        changed = []
        for user in users:
            member = members.get(user)
            if member is not None and member.state == WAITING and self._touch(member, now):
                changed.append(user)
        return changed

    def complete(self, user: str) -> QueueStatus:
        """Ends an admitted user's session after a purchase."""
        _check_user(user)
        now = self._clock.now()
        member = self._members.get(user)
        if member is None or member.state != ADMITTED:
            raise NotAdmitted("no active session for this user", user_id=user)
        self._end_session(member, DONE, "purchased", now)
        self.version += 1
        return self._status(member, now)

    def set_policy(self, policy: QueuePolicy, opens_at: float | None = None) -> None:
        """New admission settings; the opening time can move only before the sale opens."""
        if not isinstance(policy, QueuePolicy):
            raise InvalidCommand("a QueuePolicy is required")
        if opens_at is not None and opens_at != self.opens_at:
            if self.phase != PRE:
                raise InvalidCommand("the sale has opened; its opening time is history")
            self.opens_at = opens_at
            self._tokens_at = opens_at
            self._opened_at = opens_at
        self.policy = policy
        self.version += 1

    def close(self) -> None:
        """Stops the line for good: nobody joins or is admitted any more."""
        if self.phase != CLOSED:
            self.phase = CLOSED
            self.version += 1

    def tick(self) -> TickResult:
        """Opens the sale when due, drops silent waiters, ends timed-out sessions, admits.

        Changes nothing when there is nothing to do, so idle ticks need not be journaled."""
        now = self._clock.now()
        opened = False
        if self.phase == PRE and now >= self.opens_at:
            self._open(now)
            opened = True
        dropped = self._drop_silent(now)
        expired = self._expire_sessions(now)
        admitted = self._admit(now) if self.phase == OPEN else ()
        result = TickResult(opened, admitted, dropped, expired)
        if result.changed:
            self.version += 1
        return result

    # ------------------------------------------------------------------ reads

    def status(self, user: str) -> QueueStatus:
        member = self._members.get(user)
        if member is None:
            return QueueStatus(user, "none", -1, None, None, None)
        return self._status(member, self._clock.now())

    def position(self, user: str) -> int | None:
        member = self._members.get(user)
        if member is None or member.state != WAITING or member.seq < 0:
            return None
        return self._fenwick.prefix(member.seq)

    def observed_rate(self) -> float:
        now = self._clock.now()
        window = self.policy.eta_window
        since = max(self._opened_at, now - window)
        span = now - since
        count = sum(c for sec, c in self._admit_log if sec >= now - window)
        if span <= 0 or count == 0:
            return 0.0
        return count / max(span, 1.0)

    def summary(self) -> QueueSummary:
        now = self._clock.now()
        base = (self._head >> 3) << 3
        return QueueSummary(
            version=self.version,
            as_of=now,
            phase=self.phase,
            opens_at=self.opens_at,
            base=base,
            next_seq=len(self._by_seq),
            waiting=self._waiting,
            prequeue=len(self._prequeue),
            active=self._active,
            admitted_total=self._admitted_total,
            rate=self._eta_rate(),
            seed_commitment=self.seed_commitment,
            seed=self._seed if self.phase != PRE else None,
            bits=bytes(self._bits[base >> 3 : (len(self._by_seq) + 7) >> 3]),
        )

    def counts(self) -> dict[str, int]:
        return {"waiting": self._waiting, "prequeue": len(self._prequeue),
                "active": self._active, "admitted_total": self._admitted_total,
                "joined_total": len(self._by_seq) + len(self._prequeue)}

    @property
    def seed(self) -> str | None:
        """The shuffle seed, once the sale has opened."""
        return None if self.phase == PRE else self._seed

    def pull_events(self) -> list[ev.DomainEvent]:
        out = self.events
        self.events = []
        return out

    # ------------------------------------------------------------------ implementation

    def _place(self, user: str) -> int:
        seq = len(self._by_seq)
        self._by_seq.append(user)
        if seq >> 3 >= len(self._bits):
            self._bits.extend(bytes(max(128, len(self._bits))))
        self._bits[seq >> 3] |= 1 << (seq & 7)
        if seq >= self._fenwick.size:
            self._fenwick = _Fenwick.build(
                self._fenwick.size * 2,
                (m.seq for m in self._members.values() if m.state == WAITING and m.seq >= 0),
            )
        self._fenwick.add(seq, 1)
        return seq

    def _unwait(self, member: _Member) -> None:
        """Takes a waiting member out of the line (or the pre-queue)."""
        if member.seq < 0:
            del self._prequeue[member.user]
        else:
            seq = member.seq
            self._bits[seq >> 3] &= ~(1 << (seq & 7)) & 0xFF
            self._fenwick.add(seq, -1)
            self._waiting -= 1
        bucket = self._hb_buckets.get(member.beat)
        if bucket is not None:
            bucket.discard(member.user)

    def _beat(self, now: float) -> int:
        return int(now // self.policy.heartbeat_resolution)

    def _touch(self, member: _Member, now: float) -> bool:
        beat = self._beat(now)
        if beat == member.beat:
            return False
        bucket = self._hb_buckets.get(member.beat)
        if bucket is not None:
            bucket.discard(member.user)
        member.beat = beat
        self._bucket(member)
        return True

    def _bucket(self, member: _Member) -> None:
        b = member.beat
        bucket = self._hb_buckets.get(b)
        if bucket is None:
            bucket = self._hb_buckets[b] = set()
            heapq.heappush(self._hb_heap, b)
        bucket.add(member.user)

    def _status(self, member: _Member, now: float) -> QueueStatus:
        state = member.state
        if state == WAITING:
            if member.seq < 0:
                return QueueStatus(member.user, "prequeue", -1, None, None, None)
            position = self._fenwick.prefix(member.seq)
            rate = self._eta_rate()
            return QueueStatus(member.user, "waiting", member.seq, position,
                               position / rate if rate > 0 else None, None)
        if state == ADMITTED:
            return QueueStatus(member.user, "admitted", member.seq, 0, 0.0,
                               member.session_expires_at)
        return QueueStatus(member.user, STATE_NAMES[state], member.seq, None, None, None)

    def _eta_rate(self) -> float:
        observed = self.observed_rate()
        return observed if observed > 0 else self.policy.admission_rate

    def _open(self, now: float) -> None:
        order = prequeue_order(self._seed, self._prequeue)
        self._prequeue = {}
        for user in order:
            member = self._members[user]
            member.seq = self._place(user)
            self._waiting += 1
        self.phase = OPEN
        self._opened_at = now
        self._tokens_at = max(self._tokens_at, self.opens_at)
        self.events.append(ev.QueueOpened(now, self._seed, len(order)))

    def _drop_silent(self, now: float) -> int:
        """Drops waiting users whose last heartbeat interval ended a timeout ago or more."""
        policy = self.policy
        cutoff = int((now - policy.heartbeat_timeout) // policy.heartbeat_resolution)
        heap = self._hb_heap
        dropped = 0
        while heap and heap[0] < cutoff:
            b = heapq.heappop(heap)
            for user in sorted(self._hb_buckets.pop(b, ())):
                member = self._members[user]
                if member.state == WAITING and member.beat == b:
                    self._unwait(member)
                    member.state = DROPPED
                    self.events.append(ev.UserDropped(now, user, member.seq, "silent"))
                    dropped += 1
        return dropped

    def _expire_sessions(self, now: float) -> int:
        heap = self._sessions
        expired = 0
        while heap and heap[0][0] <= now:
            at, user = heapq.heappop(heap)
            member = self._members.get(user)
            if member is not None and member.state == ADMITTED and member.session_expires_at == at:
                self._end_session(member, EXPIRED, "expired", now)
                expired += 1
        return expired

    def _end_session(self, member: _Member, state: int, reason: str, now: float) -> None:
        member.state = state
        self._active -= 1
        self.events.append(ev.SessionEnded(now, member.user, reason))

    def _admit(self, now: float) -> tuple[tuple[str, int, float], ...]:
        if not self._waiting or self._active >= self.policy.active_cap:
            return ()
        policy = self.policy
        tokens = min(policy.bucket,
                     self._tokens + policy.admission_rate * max(0.0, now - self._tokens_at))
        n = min(int(tokens), policy.active_cap - self._active, self._waiting)
        if n <= 0:
            return ()
        admitted: list[tuple[str, int, float]] = []
        by_seq = self._by_seq
        members = self._members
        expires = now + policy.session_ttl
        head = self._head
        while len(admitted) < n:
            user = by_seq[head]
            head += 1
            if user is None:
                continue
            member = members[user]
            if member.state != WAITING or member.seq != head - 1:
                continue
            self._unwait(member)
            member.state = ADMITTED
            member.session_expires_at = expires
            heapq.heappush(self._sessions, (expires, user))
            admitted.append((user, member.seq, expires))
            self.events.append(ev.UserAdmitted(now, user, member.seq, expires))
        self._head = head
        self._active += n
        self._admitted_total += n
        self._tokens = tokens - n
        self._tokens_at = now
        second = int(now)
        if self._admit_log and self._admit_log[-1][0] == second:
            self._admit_log[-1] = (second, self._admit_log[-1][1] + n)
        else:
            self._admit_log.append((second, n))
        horizon = now - policy.eta_window - 1
        while self._admit_log and self._admit_log[0][0] < horizon:
            self._admit_log.popleft()
        return tuple(admitted)

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, Any]:
        return {
            "v": SNAPSHOT_VERSION,
            "policy": {f.name: getattr(self.policy, f.name) for f in fields(self.policy)},
            "phase": self.phase,
            "opens_at": self.opens_at,
            "opened_at": self._opened_at,
            "seed": self._seed,
            "members": [
                (m.user, m.seq, m.joined_at, m.beat, m.state, m.session_expires_at)
                for m in self._members.values()
            ],
            "prequeue": list(self._prequeue),
            "next_seq": len(self._by_seq),
            "head": self._head,
            "admitted_total": self._admitted_total,
            "tokens": (self._tokens, self._tokens_at),
            "admit_log": list(self._admit_log),
            "version": self.version,
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        if snap.get("v") != SNAPSHOT_VERSION:
            raise InvalidCommand(f"unsupported snapshot version {snap.get('v')!r}")
        self.policy = QueuePolicy(**snap["policy"])
        self.phase = snap["phase"]
        self.opens_at = snap["opens_at"]
        self._opened_at = snap["opened_at"]
        self._seed = snap["seed"]
        self.seed_commitment = seed_commitment(self._seed)
        next_seq = snap["next_seq"]
        self._by_seq = [None] * next_seq
        self._bits = bytearray((next_seq >> 3) + 128)
        self._members = {}
        self._hb_buckets = {}
        self._hb_heap = []
        self._sessions = []
        self._waiting = 0
        self._active = 0
        waiting_seqs = []
        for user, seq, joined_at, beat, state, session_expires_at in snap["members"]:
            member = _Member(user, seq, joined_at, beat)
            member.state = state
            member.session_expires_at = session_expires_at
            self._members[user] = member
            if seq >= 0:
                self._by_seq[seq] = user
            if state == WAITING:
                self._bucket(member)
                if seq >= 0:
                    waiting_seqs.append(seq)
                    self._bits[seq >> 3] |= 1 << (seq & 7)
                    self._waiting += 1
            elif state == ADMITTED:
                self._active += 1
                heapq.heappush(self._sessions, (session_expires_at, user))
        self._prequeue = dict.fromkeys(snap["prequeue"])
        size = 1024
        while size <= next_seq:
            size *= 2
        self._fenwick = _Fenwick.build(size, waiting_seqs)
        self._head = snap["head"]
        self._admitted_total = snap["admitted_total"]
        self._tokens, self._tokens_at = snap["tokens"]
        self._admit_log = deque((s, c) for s, c in snap["admit_log"])
        self.version = snap["version"]
        self.events = []


def _check_user(user: str) -> None:
    if type(user) is not str or not user or len(user) > 200:
        raise InvalidCommand("a user id of 1 to 200 characters is required")
