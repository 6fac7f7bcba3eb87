"""Users; emails are unique regardless of case."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from engine.store.errors import Conflict, NotFound
from engine.store.records import USER_ROLES, UserRecord


async def create_user(
    conn: asyncpg.Connection, *, email: str, password_hash: str, name: str, role: str = "user"
) -> UserRecord:
    if role not in USER_ROLES:
        raise ValueError(f"unknown role {role!r}")
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO users (email, password_hash, name, role) VALUES ($1, $2, $3, $4) "
                "RETURNING *",
                email, password_hash, name, role,
            )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a user with email {email!r} exists") from exc
    return _user(row)


async def get_user(conn: asyncpg.Connection, user_id: UUID) -> UserRecord:
    row = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    if row is None:
        raise NotFound(f"no user {user_id}")
    return _user(row)


async def find_user_by_email(conn: asyncpg.Connection, email: str) -> UserRecord | None:
    row = await conn.fetchrow("SELECT * FROM users WHERE lower(email) = lower($1)", email)
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
    row = await conn.fetchrow(
        """
        UPDATE users SET
            failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= now()
                                 THEN 1 ELSE failed_logins + 1 END,
            locked_until = CASE
                WHEN locked_until IS NOT NULL AND locked_until > now() THEN locked_until
                WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= now()
                           THEN 1 ELSE failed_logins + 1 END) >= $2
                    THEN now() + make_interval(secs => $3)
                WHEN locked_until IS NOT NULL AND locked_until <= now() THEN NULL
                ELSE locked_until END,
            updated_at = now()
        WHERE id = $1
        RETURNING *
        """,
        user_id, max_failures, lock_seconds,
    )
    if row is None:
        raise NotFound(f"no user {user_id}")
    return _user(row)


async def record_login_success(conn: asyncpg.Connection, user_id: UUID) -> None:
    await conn.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = now() "
        "WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
        user_id,
    )


async def set_password(conn: asyncpg.Connection, user_id: UUID, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                       user_id, password_hash)
