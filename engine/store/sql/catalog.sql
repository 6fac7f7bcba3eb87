-- The event catalogue as buyers and admins query it (engine.store.catalog_repo).
--
-- An event's effective status: an upcoming event whose sale window is open is on sale, and
-- an upcoming or on-sale event whose sale has closed is closed.

-- name: search_events
-- One page of the events buyers see (no drafts) that match the filters (a NULL or empty
-- filter matches all), each with its effective status and the count of all matches, in the
-- order :sort names (one of catalog_repo.SORTS; a leading '-' is descending).
WITH listed AS (
    SELECT e.*,
        effective_event_status(e.status, e.sale_opens_at, e.sale_closes_at) AS effective_status
    FROM events e
    WHERE e.status <> 'draft'
)
SELECT *, count(*) OVER () AS total
FROM listed e
WHERE (:q::text IS NULL
        OR e.title ILIKE :q OR e.description ILIKE :q OR e.venue_name ILIKE :q)
    AND (:category::text IS NULL OR lower(e.category) = lower(:category))
    AND (:venue::text IS NULL OR e.venue_name ILIKE :venue)
    AND (:starts_from::timestamptz IS NULL OR e.starts_at >= :starts_from)
    AND (:starts_to::timestamptz IS NULL OR e.starts_at < :starts_to)
    AND (cardinality(:statuses::text[]) = 0 OR e.effective_status = ANY(:statuses))
ORDER BY
    CASE WHEN :sort::text = 'startsAt' THEN e.starts_at END ASC,
    CASE WHEN :sort = '-startsAt' THEN e.starts_at END DESC,
    CASE WHEN :sort = 'saleOpensAt' THEN e.sale_opens_at END ASC,
    CASE WHEN :sort = 'title' THEN lower(e.title) END ASC,
    CASE WHEN :sort = '-title' THEN lower(e.title) END DESC,
    CASE WHEN :sort = 'createdAt' THEN e.created_at END ASC,
    CASE WHEN :sort = '-createdAt' THEN e.created_at END DESC,
    CASE WHEN :sort LIKE '-%' THEN e.id END DESC,
    e.id ASC
LIMIT :limit OFFSET :offset

-- name: event_with_status^
-- One event with its effective status.
SELECT e.*,
    effective_event_status(e.status, e.sale_opens_at, e.sale_closes_at) AS effective_status
FROM events e
WHERE e.id = :id

-- name: get_event^
SELECT * FROM events WHERE id = :id

-- name: update_event^
-- Sets each column named in :changed to its parameter (the others keep their value) and
-- bumps the version.
UPDATE events SET
    title = CASE WHEN 'title' = ANY(:changed::text[]) THEN :title ELSE title END,
    description =
        CASE WHEN 'description' = ANY(:changed) THEN :description ELSE description END,
    category = CASE WHEN 'category' = ANY(:changed) THEN :category ELSE category END,
    starts_at = CASE WHEN 'starts_at' = ANY(:changed) THEN :starts_at ELSE starts_at END,
    ends_at = CASE WHEN 'ends_at' = ANY(:changed) THEN :ends_at ELSE ends_at END,
    sale_opens_at =
        CASE WHEN 'sale_opens_at' = ANY(:changed) THEN :sale_opens_at ELSE sale_opens_at END,
    sale_closes_at =
        CASE WHEN 'sale_closes_at' = ANY(:changed) THEN :sale_closes_at ELSE sale_closes_at END,
    hold_ttl_s = CASE WHEN 'hold_ttl_s' = ANY(:changed) THEN :hold_ttl_s ELSE hold_ttl_s END,
    hold_extension_s = CASE WHEN 'hold_extension_s' = ANY(:changed)
        THEN :hold_extension_s ELSE hold_extension_s END,
    hold_max_extensions = CASE WHEN 'hold_max_extensions' = ANY(:changed)
        THEN :hold_max_extensions ELSE hold_max_extensions END,
    hold_max_lifetime_s = CASE WHEN 'hold_max_lifetime_s' = ANY(:changed)
        THEN :hold_max_lifetime_s ELSE hold_max_lifetime_s END,
    per_user_limit =
        CASE WHEN 'per_user_limit' = ANY(:changed) THEN :per_user_limit ELSE per_user_limit END,
    admission_rate =
        CASE WHEN 'admission_rate' = ANY(:changed) THEN :admission_rate ELSE admission_rate END,
    active_cap = CASE WHEN 'active_cap' = ANY(:changed) THEN :active_cap ELSE active_cap END,
    heartbeat_timeout_s = CASE WHEN 'heartbeat_timeout_s' = ANY(:changed)
        THEN :heartbeat_timeout_s ELSE heartbeat_timeout_s END,
    session_ttl_s =
        CASE WHEN 'session_ttl_s' = ANY(:changed) THEN :session_ttl_s ELSE session_ttl_s END,
    status = CASE WHEN 'status' = ANY(:changed) THEN :status ELSE status END,
    version = version + 1,
    updated_at = now()
WHERE id = :id
RETURNING *

-- name: has_reservations$
SELECT EXISTS (
    SELECT 1 FROM reservations WHERE event_id = :event_id AND status = ANY(:statuses::text[])
)

-- name: delete_reservations!
DELETE FROM reservations WHERE event_id = :event_id

-- name: delete_event!
DELETE FROM events WHERE id = :id

-- name: seat_prices
SELECT seat_id, price FROM seats WHERE event_id = :event_id AND seat_id = ANY(:seat_ids::text[])

-- name: ticket_type_prices
SELECT ticket_type_id, price FROM ticket_types WHERE event_id = :event_id

-- name: reservations_by_status
-- Per event and status: how many reservations, and their total amount.
SELECT event_id, status, count(*) AS n, coalesce(sum(total_amount), 0) AS amount
FROM reservations
WHERE event_id = ANY(:event_ids::uuid[])
GROUP BY event_id, status

-- name: figures
SELECT * FROM event_figures WHERE event_id = ANY(:event_ids::uuid[])
