"""bcrypt password hashing off the event loop (api.security.passwords)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import bcrypt
import pytest

from api.security import passwords
from api.security.passwords import (
    BCRYPT_ROUNDS,
    MAX_PASSWORD_BYTES,
    burn_verify_time,
    hash_password,
    verify_password,
)


async def test_round_trip() -> None:
    hashed = await hash_password("correct horse battery staple")
    assert await verify_password("correct horse battery staple", hashed)
    assert not await verify_password("correct horse battery stapler", hashed)
    assert not await verify_password("", hashed)
    assert bcrypt.checkpw(b"correct horse battery staple", hashed.encode())


async def test_the_cost_is_the_seeds() -> None:
    assert BCRYPT_ROUNDS == 10
    hashed = await hash_password("pw")
    assert hashed.startswith("$2b$10$")
    assert len(hashed) == 60


async def test_salts_differ() -> None:
    assert await hash_password("same") != await hash_password("same")


async def test_unicode_passwords() -> None:
    hashed = await hash_password("пароль-密码-🔑")
    assert await verify_password("пароль-密码-🔑", hashed)
    assert not await verify_password("пароль-密码-🔐", hashed)


async def test_a_hash_made_elsewhere_verifies() -> None:
    # e.g. the seed's bcrypt hashes ($2a$/$2b$, cost 10).
    stored = bcrypt.hashpw(b"seeded", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    assert await verify_password("seeded", stored)
    assert not await verify_password("seede", stored)


@pytest.mark.parametrize("stored", [
    "", "garbage", "$2b$10$short", "$2b$99$" + "a" * 53, "$2b$10$" + "é" * 53,
    "pbkdf2:sha256:600000$abc$def",
])
async def test_a_malformed_hash_gives_false(stored: str) -> None:
    assert await verify_password("pw", stored) is False


async def test_the_byte_limit() -> None:
    assert MAX_PASSWORD_BYTES == 72
    at_limit = "é" * 36  # 72 bytes of UTF-8
    assert await verify_password(at_limit, await hash_password(at_limit))
    with pytest.raises(ValueError, match="72 bytes"):
        await hash_password(at_limit + "a")  # 73 bytes
    with pytest.raises(ValueError, match="72 bytes"):
        await hash_password("a" * 73)


async def test_over_long_passwords_are_refused_before_bcrypt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # bcrypt < 5 silently truncates at 72 bytes; we must refuse whatever bcrypt is installed.
    def truncating_hashpw(password: bytes, salt: bytes) -> bytes:
        raise AssertionError("bcrypt must not see an over-long password")

    monkeypatch.setattr(passwords.bcrypt, "hashpw", truncating_hashpw)
    with pytest.raises(ValueError, match="72 bytes"):
        await hash_password("a" * 73)


async def test_verifying_an_over_long_password_is_false_not_an_error() -> None:
    hashed = await hash_password("a" * 72)
    assert await verify_password("a" * 73, hashed) is False


async def test_lone_surrogates() -> None:
    with pytest.raises(ValueError, match="surrogate"):  # a UnicodeEncodeError
        await hash_password("\ud800")
    hashed = await hash_password("pw")
    assert await verify_password("\ud800", hashed) is False
    await burn_verify_time("\ud800")


async def test_burn_verify_time_runs_a_real_bcrypt_check(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real_checkpw = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        calls.append((password, hashed))
        return real_checkpw(password, hashed)  # raises if the dummy hash were malformed

    monkeypatch.setattr(passwords.bcrypt, "checkpw", spy)
    assert await burn_verify_time("whatever") is None
    assert await burn_verify_time("x" * 100) is None  # over-long passwords burn time too
    assert len(calls) == 2
    (password, dummy), (long_password, _) = calls
    assert password == b"whatever" and len(long_password) == MAX_PASSWORD_BYTES
    assert dummy.startswith(b"$2b$10$")  # the same cost as a real check


async def test_over_long_verify_still_spends_a_bcrypt_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", spy)
    assert await verify_password("a" * 73, "$2b$10$" + "a" * 53) is False
    assert len(calls) == 1 and calls[0].startswith(b"$2b$10$")


async def ticks_while(work: Callable[[], Awaitable[object]]) -> int:
    """How often another coroutine got to run (every ~1 ms) while `work` was awaited."""
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    ticks = 0
    try:
        await work()
    finally:
        done = True
        await task
    return ticks


async def test_hashing_does_not_block_the_loop() -> None:
    # A cost-10 hash takes tens of milliseconds; run on the loop, it would allow ≤ 1 tick.
    assert await ticks_while(lambda: hash_password("pw")) >= 5


async def test_verifying_does_not_block_the_loop() -> None:
    hashed = await hash_password("pw")
    assert await ticks_while(lambda: verify_password("pw", hashed)) >= 5
    assert await ticks_while(lambda: burn_verify_time("pw")) >= 5


async def test_the_ticker_detects_blocking() -> None:
    # The check above can fail: the same work run on the loop lets the ticker run at most once.
    async def blocking() -> None:
        bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=BCRYPT_ROUNDS))

    assert await ticks_while(blocking) <= 1
