"""Ray's errors as the engine's own: callers above `engine.actors` see a DomainError, a
`ShardUnavailable` (retry with the same key) or a `ShardStopped` (open the event anew),
never a Ray exception."""

from __future__ import annotations

import logging

from ray.exceptions import ActorDiedError, RayActorError, RayTaskError

from engine.core.errors import DomainError, ShardStopped, ShardUnavailable

log = logging.getLogger(__name__)


def engine_error(exc: BaseException) -> BaseException:
    """What a failed call to a shard actor means to the engine."""
    if isinstance(exc, RayTaskError):
        cause = exc.cause
        if isinstance(cause, DomainError | ShardUnavailable):
            return cause
        log.error("a shard call failed inside the shard: %r", cause)
        return ShardUnavailable(f"the shard failed: {cause!r}")
    if isinstance(exc, ActorDiedError):
        return ShardStopped("the shard has stopped for good")
    if isinstance(exc, RayActorError):
        return ShardUnavailable("the shard is restarting")
    return exc
