-- The dashboard figures the outbox consumer counts (engine.saga.outbox.figures_handler).

-- name: count_once!
-- Adds an outbox row's counts to its event's figures, unless the consumer counted that row
-- already; the first sell-out is the one kept.
WITH fresh AS (
    INSERT INTO consumed_events (consumer, outbox_id) VALUES ('figures', :outbox_id)
    ON CONFLICT DO NOTHING
    RETURNING outbox_id
)
INSERT INTO event_figures AS f (
    event_id, reservations_created, payments_completed, payments_failed,
    reservations_cancelled, revenue, refunded, sold_out_at
)
SELECT :event_id::uuid, :reservations_created, :payments_completed, :payments_failed,
    :reservations_cancelled, :revenue, :refunded, CASE WHEN :sold_out THEN now() END
FROM fresh
ON CONFLICT (event_id) DO UPDATE SET
    reservations_created = f.reservations_created + excluded.reservations_created,
    payments_completed = f.payments_completed + excluded.payments_completed,
    payments_failed = f.payments_failed + excluded.payments_failed,
    reservations_cancelled = f.reservations_cancelled + excluded.reservations_cancelled,
    revenue = f.revenue + excluded.revenue,
    refunded = f.refunded + excluded.refunded,
    sold_out_at = coalesce(f.sold_out_at, excluded.sold_out_at),
    updated_at = now()
