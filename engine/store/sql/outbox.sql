-- The transactional outbox (engine.store.outbox_repo).

-- name: emit$
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES (:aggregate_type, :aggregate_id, :event_type, :payload::jsonb)
RETURNING id

-- name: claim
-- Unpublished events, oldest first, locked until the transaction ends (other relays skip
-- them).
SELECT * FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit
FOR UPDATE SKIP LOCKED

-- name: mark_published!
UPDATE outbox SET published_at = now() WHERE id = ANY(:ids::bigint[])

-- name: events_of
SELECT * FROM outbox WHERE aggregate_id = :aggregate_id ORDER BY id
