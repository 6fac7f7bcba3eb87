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
