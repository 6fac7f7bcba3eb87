-- The saga log: each saga's state (sagas) and every step it took (saga_log)
-- (engine.store.saga_repo).

-- name: start^
-- The reservation's saga, created in :state with its first step logged; no row if the
-- reservation has one.
WITH started AS (
    INSERT INTO sagas (kind, reservation_id, state, data, next_attempt_at)
    VALUES (:kind, :reservation_id, :state, :data::jsonb, coalesce(:next_attempt_at, now()))
    ON CONFLICT (reservation_id) WHERE kind = 'purchase' DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO saga_log (saga_id, reservation_id, step, status, data)
    SELECT id, reservation_id, 'start', state, :data::jsonb FROM started
)
SELECT * FROM started

-- name: for_reservation^
SELECT * FROM sagas WHERE reservation_id = :reservation_id AND kind = 'purchase'

-- name: advance^
-- Moves the saga from :from_state to :state, logging :step; no row if it is no longer in
-- :from_state.
WITH moved AS (
    UPDATE sagas SET state = :state, data = :data::jsonb, updated_at = now(), attempts = 0,
        next_attempt_at = now(),
        finished_at = CASE WHEN :finished THEN now() ELSE NULL END
    WHERE id = :id AND state = :from_state
    RETURNING *
), logged AS (
    INSERT INTO saga_log (saga_id, reservation_id, step, status, data)
    SELECT id, reservation_id, :step, state, :step_data::jsonb FROM moved
)
SELECT * FROM moved

-- name: put_off!
-- Counts a failed attempt and puts the next one off by :retry_in_s seconds.
UPDATE sagas SET attempts = attempts + 1, updated_at = now(),
    next_attempt_at = now() + make_interval(secs => :retry_in_s)
WHERE id = :id

-- name: due
-- Unfinished sagas whose next attempt is due and that no runner holds, oldest first.
SELECT * FROM sagas
WHERE finished_at IS NULL AND next_attempt_at <= now()
    AND (lease_until IS NULL OR lease_until <= now())
ORDER BY next_attempt_at
LIMIT :limit

-- name: steps
SELECT step, status FROM saga_log WHERE saga_id = :saga_id ORDER BY id

-- name: claim^
-- The reservation's saga, its lease now held by :owner; no row if another runner holds it.
UPDATE sagas SET lease_owner = :owner, lease_until = now() + make_interval(secs => :lease_s)
WHERE reservation_id = :reservation_id AND kind = 'purchase'
    AND (lease_until IS NULL OR lease_until <= now() OR lease_owner = :owner)
RETURNING *

-- name: renew$
UPDATE sagas SET lease_until = now() + make_interval(secs => :lease_s)
WHERE id = :id AND lease_owner = :owner
RETURNING true

-- name: release!
UPDATE sagas SET lease_owner = NULL, lease_until = NULL WHERE id = :id AND lease_owner = :owner

-- name: postpone!
UPDATE sagas SET next_attempt_at = :until WHERE id = :id

-- name: log!
INSERT INTO saga_log (saga_id, reservation_id, step, status, data)
VALUES (:saga_id, :reservation_id, :step, :status, :data::jsonb)
