-- What the audit reads of an event in PostgreSQL (engine.audit.sources).

-- name: seat_items
-- The event's active seat items, with the status of their reservation.
SELECT i.reservation_id, i.seat_id, i.shard, i.hold_id, r.status
FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
WHERE i.event_id = :event_id AND i.active AND i.seat_id IS NOT NULL
ORDER BY i.id

-- name: duplicate_seats
-- Seats in more than one active item: what the partial unique index on active seat items
-- forbids, asked without relying on it.
SELECT seat_id, array_agg(reservation_id ORDER BY id) AS reservation_ids
FROM reservation_items
WHERE event_id = :event_id AND active AND seat_id IS NOT NULL
GROUP BY seat_id
HAVING count(*) > 1

-- name: reservations
SELECT id, status, total_amount FROM reservations WHERE event_id = :event_id

-- name: payments
SELECT p.id, p.reservation_id, p.amount, p.status, p.balance_amount
FROM payments p JOIN reservations r ON r.id = p.reservation_id
WHERE r.event_id = :event_id
ORDER BY p.created_at, p.id
