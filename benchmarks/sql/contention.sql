-- The designs the engine is measured against (contention_bench): (b) the seed's Redis locks
-- with PostgreSQL, (c) PostgreSQL row locks alone, on a table of the benchmark's own.

-- name: create_schema!
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.seats (
    event_id uuid NOT NULL,
    seat_id text NOT NULL,
    rank integer NOT NULL,
    price bigint NOT NULL,
    status text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'sold')),
    PRIMARY KEY (event_id, seat_id)
);
CREATE INDEX IF NOT EXISTS seats_available_rank_idx ON bench.seats (event_id, rank)
    WHERE status = 'available';

-- name: fill_seats!
INSERT INTO bench.seats (event_id, seat_id, rank, price)
SELECT :event_id, s.seat_id, s.rank, s.price
FROM unnest(:seat_ids::text[], :ranks::integer[], :prices::bigint[]) AS s(seat_id, rank, price);

-- name: new_users
INSERT INTO users (email, password_hash, name)
SELECT 'buyer-' || :tag || '-' || g || '@bench.test', 'x', 'buyer ' || g
FROM generate_series(1, :count) AS g
RETURNING id;

-- name: sell$
-- Marks the seats sold and records the confirmed sale, in the caller's transaction; NULL when
-- a seat was not available (the caller then rolls back).
WITH sold AS (
    UPDATE bench.seats SET status = 'sold'
    WHERE event_id = :event_id AND seat_id = ANY(:seat_ids::text[]) AND status = 'available'
    RETURNING seat_id, price
), reservation AS (
    INSERT INTO reservations (user_id, event_id, status, total_amount, expires_at, confirmed_at)
    SELECT :user_id, :event_id, 'CONFIRMED', sum(price), now() + interval '10 minutes', now()
    FROM sold
    HAVING count(*) = cardinality(:seat_ids::text[])
    RETURNING id
), items AS (
    INSERT INTO reservation_items (reservation_id, event_id, shard, hold_id, seat_id, price)
    SELECT reservation.id, :event_id, 0, :hold_id, sold.seat_id, sold.price
    FROM reservation, sold
)
SELECT id FROM reservation;

-- name: lock_named
SELECT seat_id FROM bench.seats
WHERE event_id = :event_id AND seat_id = ANY(:seat_ids::text[]) AND status = 'available'
ORDER BY seat_id FOR UPDATE NOWAIT;

-- name: lock_best
SELECT seat_id FROM bench.seats
WHERE event_id = :event_id AND status = 'available'
ORDER BY rank LIMIT :window FOR UPDATE SKIP LOCKED;

-- name: still_available
SELECT seat_id, rank FROM bench.seats
WHERE event_id = :event_id AND seat_id = ANY(:seat_ids::text[]) AND status = 'available';

-- name: sold$
SELECT count(*) FROM bench.seats WHERE event_id = :event_id AND status = 'sold';

-- name: pg_sales^
-- Seats of the event in more than one CONFIRMED reservation, and seats sold.
SELECT count(*) FILTER (WHERE n > 1) AS double_sells, count(*) AS seats
FROM (
    SELECT i.seat_id, count(*) AS n
    FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
    WHERE r.event_id = :event_id AND r.status = 'CONFIRMED' AND i.seat_id IS NOT NULL
    GROUP BY i.seat_id
) AS per_seat;

-- name: analyze!
VACUUM ANALYZE reservations, reservation_items, bench.seats;
