"""bcrypt password hashing, run in worker threads so the event loop never blocks."""

from __future__ import annotations

import asyncio
from typing import Final

import bcrypt

BCRYPT_ROUNDS: Final = 10
MAX_PASSWORD_BYTES: Final = 72  # bcrypt ignores (bcrypt>=5: rejects) anything longer

# A cost-10 hash of a random, discarded password: checking against it costs what a real check
# costs, and no password matches it.
_DUMMY_HASH: Final = b"$2b$10$93WivBqP5QEFpAjH/J9yvOQKgGnEzw7BWkp4mQODqONVfJnzG6PP6"


def _hash(password: bytes) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")


def _check(password: bytes, password_hash: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, password_hash)
    except ValueError:  # a malformed hash
        return False


def _lenient_bytes(password: str) -> bytes:
    # Lone surrogates (possible from JSON) cannot be in any stored hash: hash_password encodes
    # strictly. Checking them still costs a full bcrypt round, like any wrong password.
    return password.encode("utf-8", "surrogatepass")


async def hash_password(password: str) -> str:
    """A bcrypt hash (`$2b$10$...`). Raises ValueError beyond MAX_PASSWORD_BYTES of UTF-8."""
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password is longer than {MAX_PASSWORD_BYTES} bytes")
    return await asyncio.to_thread(_hash, raw)


async def verify_password(password: str, password_hash: str) -> bool:
    """Whether `password` matches `password_hash`; False for a malformed hash."""
    raw = _lenient_bytes(password)
    try:
        stored = password_hash.encode("ascii")
    except UnicodeEncodeError:
        return False
    if len(raw) > MAX_PASSWORD_BYTES:
        # No stored hash can match; spend the time anyway so length does not leak anything.
        await burn_verify_time(password)
        return False
    return await asyncio.to_thread(_check, raw, stored)


async def burn_verify_time(password: str) -> None:
    """One bcrypt check against a dummy hash, so a login for an unknown email takes as long
    as a real one."""
    raw = _lenient_bytes(password)[:MAX_PASSWORD_BYTES]
    await asyncio.to_thread(_check, raw, _DUMMY_HASH)
