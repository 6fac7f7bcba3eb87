-- Refresh tokens and their families (engine.store.tokens_repo).

-- name: store!
INSERT INTO refresh_tokens (jti, user_id, family_id, expires_at)
VALUES (:jti, :user_id, :family_id, :expires_at)

-- name: lock_token^
-- The token, locked until the transaction ends, with the database's clock.
SELECT user_id, family_id, expires_at, used_at, revoked_at, now() AS now
FROM refresh_tokens
WHERE jti = :jti
FOR UPDATE

-- name: spend!
UPDATE refresh_tokens SET used_at = now(), replaced_by = :replaced_by WHERE jti = :jti

-- name: revoke_family!
UPDATE refresh_tokens SET revoked_at = now()
WHERE family_id = :family_id AND revoked_at IS NULL
