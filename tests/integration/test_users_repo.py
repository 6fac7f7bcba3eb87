from __future__ import annotations

import uuid

import asyncpg
import pytest

from engine.store.errors import Conflict, NotFound
from engine.store.users_repo import create_user, find_user_by_email, get_user


async def test_create_get_and_find(conn: asyncpg.Connection) -> None:
    user = await create_user(
        conn, email="Ada@Example.com", password_hash="secret-hash", name="Ada", role="admin"
    )
    assert (user.email, user.name, user.role, user.failed_logins) == (
        "Ada@Example.com", "Ada", "admin", 0,
    )
    assert user.locked_until is None
    assert await get_user(conn, user.id) == user
    assert await find_user_by_email(conn, "ada@example.COM") == user
    assert await find_user_by_email(conn, "nobody@example.com") is None
    assert "secret-hash" not in repr(user)


async def test_email_is_unique_regardless_of_case(conn: asyncpg.Connection) -> None:
    await create_user(conn, email="fan@example.com", password_hash="h", name="Fan")
    with pytest.raises(Conflict):
        await create_user(conn, email="FAN@example.com", password_hash="h", name="Other")
    assert await conn.fetchval("SELECT count(*) FROM users WHERE lower(email) = $1",
                               "fan@example.com") == 1


async def test_unknown_user_and_role(conn: asyncpg.Connection) -> None:
    with pytest.raises(NotFound):
        await get_user(conn, uuid.uuid4())
    with pytest.raises(ValueError, match="role"):
        await create_user(conn, email="x@example.com", password_hash="h", name="X", role="root")
