-- Events, their venue layout and their shard plan (engine.store.events_repo).

-- name: insert_event^
INSERT INTO events (
    slug, title, description, category, venue_name, venue_focal_x, venue_focal_y,
    starts_at, ends_at, sale_opens_at, sale_closes_at, status,
    hold_ttl_s, hold_extension_s, hold_max_extensions, hold_max_lifetime_s, per_user_limit,
    admission_rate, active_cap, heartbeat_timeout_s, session_ttl_s,
    shard_count, seat_count, ga_quantity, queue_seed_hash, queue_seed
) VALUES (
    :slug, :title, :description, :category, :venue_name, :venue_focal_x, :venue_focal_y,
    :starts_at, :ends_at, :sale_opens_at, :sale_closes_at, :status,
    :hold_ttl_s, :hold_extension_s, :hold_max_extensions, :hold_max_lifetime_s, :per_user_limit,
    :admission_rate, :active_cap, :heartbeat_timeout_s, :session_ttl_s,
    :shard_count, :seat_count, :ga_quantity, :queue_seed_hash, :queue_seed
)
RETURNING *

-- name: get_event^
SELECT * FROM events WHERE id = :id

-- name: get_event_by_slug^
SELECT * FROM events WHERE slug = :slug

-- name: set_status!
UPDATE events SET status = :status, updated_at = now(), version = version + 1 WHERE id = :id

-- name: shard_plan
-- Each section and ticket type of the event, with the shard that owns it.
SELECT section_id AS unit, shard FROM event_sections WHERE event_id = :event_id
UNION ALL
SELECT ticket_type_id, shard FROM ticket_types WHERE event_id = :event_id

-- name: venue_of^
SELECT venue_name, venue_focal_x, venue_focal_y, shard_count FROM events WHERE id = :id

-- name: sections_of
-- The event's sections in venue order: all of them, or those of :shard.
SELECT section_id, name FROM event_sections
WHERE event_id = :event_id AND (:shard::int IS NULL OR shard = :shard)
ORDER BY ordinal

-- name: seats_of
SELECT seat_id, section_id, row_label, row_ordinal, number, grade, price, x, y
FROM seats
WHERE event_id = :event_id AND section_id = ANY(:section_ids::text[])
ORDER BY seat_ordinal

-- name: ticket_types_of
-- The event's ticket types in venue order: all of them, or those of :shard.
SELECT ticket_type_id, name, grade, price, quantity FROM ticket_types
WHERE event_id = :event_id AND (:shard::int IS NULL OR shard = :shard)
ORDER BY ordinal

-- name: lock_for_replan^
-- The event, locked until the transaction ends, with whether its sale opens at least
-- :lead_s seconds from now and whether it has ever had a reservation.
SELECT *,
    sale_opens_at - now() >= make_interval(secs => :lead_s) AS far_enough,
    EXISTS (SELECT 1 FROM reservations r WHERE r.event_id = events.id) AS reserved
FROM events WHERE id = :id
FOR UPDATE

-- name: set_section_shard*!
UPDATE event_sections SET shard = :shard WHERE event_id = :event_id AND section_id = :section_id

-- name: set_ticket_type_shard*!
UPDATE ticket_types SET shard = :shard
WHERE event_id = :event_id AND ticket_type_id = :ticket_type_id

-- name: next_plan^
UPDATE events SET shard_count = :shard_count, plan_generation = plan_generation + 1,
    version = version + 1, updated_at = now()
WHERE id = :id
RETURNING *

-- name: upcoming_lines
-- Upcoming events whose sale opens at least :lead_s seconds from now, with the number of
-- units (sections and ticket types) their seats can be split by.
SELECT e.*,
    (SELECT count(*) FROM event_sections s WHERE s.event_id = e.id)
        + (SELECT count(*) FROM ticket_types t WHERE t.event_id = e.id) AS units
FROM events e
WHERE e.status = 'upcoming' AND e.sale_opens_at - now() >= make_interval(secs => :lead_s)
