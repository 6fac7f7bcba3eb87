"""Refresh-token rotation against a real PostgreSQL: a token is spent once, its reuse revokes
the family, an expired one does not rotate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from engine.store import tokens_repo
from engine.store.records import UserRecord
from engine.store.tokens_repo import Rotation

LATER = datetime.now(UTC) + timedelta(days=30)


async def test_rotation_spends_a_token_and_reuse_revokes_the_family(
    conn: asyncpg.Connection, user: UserRecord
) -> None:
    first, family = uuid.uuid4(), uuid.uuid4()
    await tokens_repo.store_refresh(conn, jti=first, user_id=user.id, family_id=family,
                                    expires_at=LATER)
    second, third = uuid.uuid4(), uuid.uuid4()
    assert await tokens_repo.rotate_refresh(
        conn, jti=first, new_jti=second, new_expires_at=LATER) == (Rotation.ROTATED, family)
    row = await conn.fetchrow("SELECT * FROM refresh_tokens WHERE jti = $1", second)
    assert (row["user_id"], row["family_id"], row["used_at"]) == (user.id, family, None)
    assert await conn.fetchval("SELECT replaced_by FROM refresh_tokens WHERE jti = $1",
                               first) == second

    assert await tokens_repo.rotate_refresh(
        conn, jti=first, new_jti=third, new_expires_at=LATER) == (Rotation.REUSED, family)
    assert await conn.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL",
        family) == 0
    assert await tokens_repo.rotate_refresh(
        conn, jti=second, new_jti=third, new_expires_at=LATER) == (Rotation.REUSED, family)
    assert await tokens_repo.revoke_family(conn, family) == 0  # nothing left to revoke


async def test_unknown_and_expired_tokens_do_not_rotate(
    conn: asyncpg.Connection, user: UserRecord
) -> None:
    assert await tokens_repo.rotate_refresh(
        conn, jti=uuid.uuid4(), new_jti=uuid.uuid4(), new_expires_at=LATER
    ) == (Rotation.UNKNOWN, None)
    old, family = uuid.uuid4(), uuid.uuid4()
    await tokens_repo.store_refresh(conn, jti=old, user_id=user.id, family_id=family,
                                    expires_at=datetime.now(UTC) - timedelta(hours=1))
    assert await tokens_repo.rotate_refresh(
        conn, jti=old, new_jti=uuid.uuid4(), new_expires_at=LATER) == (Rotation.EXPIRED, family)
    assert await tokens_repo.revoke_family(conn, family) == 1
