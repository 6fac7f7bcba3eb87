"""Users; emails are unique regardless of case."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from engine.store.errors import Conflict, NotFound
from engine.store.queries import load_queries
from engine.store.records import USER_ROLES, UserRecord

SQL = load_queries("engine.store", "users.sql")


async def create_user(
    conn: asyncpg.Connection, *, email: str, password_hash: str, name: str, role: str = "user"
) -> UserRecord:
    if role not in USER_ROLES:
        raise ValueError(f"unknown role {role!r}")
    try:
        async with conn.transaction():
            row = await SQL.create_user.fetchrow(
                conn, email=email, password_hash=password_hash, name=name, role=role)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a user with email {email!r} exists") from exc
    return _user(row)


async def get_user(conn: asyncpg.Connection, user_id: UUID) -> UserRecord:
    row = await SQL.get_user.fetchrow(conn, id=user_id)
    if row is None:
        raise NotFound(f"no user {user_id}")
    return _user(row)


async def find_user_by_email(conn: asyncpg.Connection, email: str) -> UserRecord | None:
    row = await SQL.find_by_email.fetchrow(conn, email=email)
    return None if row is None else _user(row)


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        password_hash=row["password_hash"],
        failed_logins=row["failed_logins"],
        locked_until=row["locked_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def record_login_failure(
    conn: asyncpg.Connection, user_id: UUID, *, max_failures: int, lock_seconds: float
) -> UserRecord:
    """Counts a failed login, atomically; the `max_failures`-th locks the account. A lock that
    has run out starts the count again."""
    row = await SQL.record_login_failure.fetchrow(
        conn, id=user_id, max_failures=max_failures, lock_seconds=lock_seconds)
    if row is None:
        raise NotFound(f"no user {user_id}")
    return _user(row)


async def record_login_success(conn: asyncpg.Connection, user_id: UUID) -> None:
    await SQL.record_login_success.execute(conn, id=user_id)


async def set_password(conn: asyncpg.Connection, user_id: UUID, password_hash: str) -> None:
    await SQL.set_password.execute(conn, id=user_id, password_hash=password_hash)
