"""Refresh tokens: each use rotates it (the old one is spent, a new one of the same family
is issued); presenting a spent or revoked token revokes its whole family."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import UUID

import asyncpg

from engine.store.queries import load_queries

SQL = load_queries("engine.store", "tokens.sql")


class Rotation(Enum):
    ROTATED = "rotated"
    REUSED = "reused"  # spent or revoked: the family is now revoked
    UNKNOWN = "unknown"
    EXPIRED = "expired"


async def store_refresh(
    conn: asyncpg.Connection, *, jti: UUID, user_id: UUID, family_id: UUID,
    expires_at: datetime,
) -> None:
    await SQL.store.execute(conn, jti=jti, user_id=user_id, family_id=family_id,
                            expires_at=expires_at)


async def rotate_refresh(
    conn: asyncpg.Connection, *, jti: UUID, new_jti: UUID, new_expires_at: datetime
) -> tuple[Rotation, UUID | None]:
    """Spends `jti` and stores its successor, in one transaction. Returns what happened and
    the family id (None if the token is unknown)."""
    async with conn.transaction():
        row = await SQL.lock_token.fetchrow(conn, jti=jti)
        if row is None:
            return Rotation.UNKNOWN, None
        family = row["family_id"]
        if row["used_at"] is not None or row["revoked_at"] is not None:
            await revoke_family(conn, family)
            return Rotation.REUSED, family
        if row["expires_at"] <= row["now"]:
            return Rotation.EXPIRED, family
        await SQL.spend.execute(conn, jti=jti, replaced_by=new_jti)
        await store_refresh(conn, jti=new_jti, user_id=row["user_id"], family_id=family,
                            expires_at=new_expires_at)
        return Rotation.ROTATED, family


async def revoke_family(conn: asyncpg.Connection, family_id: UUID) -> int:
    result = await SQL.revoke_family.execute(conn, family_id=family_id)
    return int(result.split()[-1])
