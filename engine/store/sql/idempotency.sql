-- Stored replies of requests that carried an Idempotency-Key (engine.store.idempotency_repo).

-- name: insert_key$
-- Claims a new key for a first attempt; no row if the key exists.
INSERT INTO idempotency_keys (scope, user_id, key, request_hash, state)
VALUES (:scope, :user_id, :key, :request_hash, 'in_flight')
ON CONFLICT DO NOTHING
RETURNING 1

-- name: lock_key^
-- The key's row, locked until the transaction ends, with whether its attempt was abandoned
-- (not touched for :lease_s seconds).
SELECT request_hash, state, status_code, response,
    updated_at < now() - make_interval(secs => :lease_s) AS abandoned
FROM idempotency_keys
WHERE scope = :scope AND user_id = :user_id AND key = :key
FOR UPDATE

-- name: touch_key!
UPDATE idempotency_keys SET updated_at = now()
WHERE scope = :scope AND user_id = :user_id AND key = :key

-- name: finish_key!
UPDATE idempotency_keys SET state = 'done', status_code = :status_code,
    response = :response::jsonb, updated_at = now()
WHERE scope = :scope AND user_id = :user_id AND key = :key

-- name: abandon_key!
DELETE FROM idempotency_keys
WHERE scope = :scope AND user_id = :user_id AND key = :key AND state = 'in_flight'
