-- Reservations and their items (engine.store.reservations_repo).

-- name: insert_reservation^
-- A new PENDING reservation; no row if the user has one with this idempotency key.
INSERT INTO reservations (user_id, event_id, total_amount, idempotency_key, expires_at)
VALUES (:user_id, :event_id, :total_amount, :idempotency_key, :expires_at)
ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *

-- name: insert_item*!
INSERT INTO reservation_items
    (reservation_id, event_id, shard, hold_id, seat_id, ticket_type_id, quantity, price)
VALUES
    (:reservation_id, :event_id, :shard, :hold_id, :seat_id, :ticket_type_id, :quantity, :price)

-- name: reserved_seats
-- Which of the seats an active item of the event holds.
SELECT seat_id FROM reservation_items
WHERE event_id = :event_id AND active AND seat_id = ANY(:seat_ids::text[])
ORDER BY seat_id

-- name: find_by_key^
SELECT * FROM reservations WHERE user_id = :user_id AND idempotency_key = :idempotency_key

-- name: get_reservation^
SELECT * FROM reservations WHERE id = :id

-- name: lock_reservation^
SELECT * FROM reservations WHERE id = :id FOR UPDATE

-- name: items_of
-- The items of the reservations, in the order they were added.
SELECT * FROM reservation_items WHERE reservation_id = ANY(:reservation_ids::uuid[]) ORDER BY id

-- name: move^
-- Moves the reservation to :status if it is in one of :from_statuses; no row otherwise.
UPDATE reservations SET status = :status, updated_at = now(),
    confirmed_at = CASE WHEN :confirmed THEN now() ELSE confirmed_at END,
    cancelled_at = CASE WHEN :cancelled THEN now() ELSE cancelled_at END
WHERE id = :id AND status = ANY(:from_statuses::text[])
RETURNING *

-- name: set_items_active
UPDATE reservation_items SET active = :active WHERE reservation_id = :reservation_id
RETURNING *

-- name: extend_pending$
-- Moves a PENDING reservation's expiry to :expires_at if that is later (the row stays
-- locked until the transaction ends); true if it is PENDING, no row otherwise.
UPDATE reservations SET expires_at = greatest(expires_at, :expires_at)
WHERE id = :id AND status = 'PENDING'
RETURNING true

-- name: shard_items
-- The active items a seat shard holds, with the status of their reservation.
SELECT i.hold_id, i.seat_id, i.ticket_type_id, i.quantity, r.user_id, r.status
FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
WHERE i.event_id = :event_id AND i.shard = :shard AND i.active
ORDER BY i.id

-- name: list_reservations
-- One page of the reservations that match the filters (a NULL or empty filter matches all),
-- newest first. Every row carries the count of all matches; an empty page is one row of
-- NULLs but for that count.
WITH matching AS NOT MATERIALIZED (
    SELECT * FROM reservations
    WHERE (:user_id::uuid IS NULL OR user_id = :user_id)
        AND (:event_id::uuid IS NULL OR event_id = :event_id)
        AND (cardinality(:statuses::text[]) = 0 OR status = ANY(:statuses))
        AND (:created_from::timestamptz IS NULL OR created_at >= :created_from)
        AND (:created_to::timestamptz IS NULL OR created_at < :created_to)
)
SELECT page.*, counted.total
FROM (SELECT count(*) AS total FROM matching) AS counted
LEFT JOIN LATERAL (
    SELECT * FROM matching ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset
) AS page ON true
ORDER BY page.created_at DESC, page.id DESC
