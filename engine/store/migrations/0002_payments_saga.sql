-- Payments, the purchase saga, idempotent POSTs and the outbox relay.

ALTER TABLE payments ADD COLUMN user_id uuid REFERENCES users (id);
ALTER TABLE payments ADD COLUMN cancel_amount bigint NOT NULL DEFAULT 0 CHECK (cancel_amount >= 0);
ALTER TABLE payments ADD COLUMN failure_code text;
ALTER TABLE payments ADD COLUMN failure_message text;

-- One purchase saga per reservation.
CREATE UNIQUE INDEX sagas_one_purchase_per_reservation ON sagas (reservation_id)
    WHERE kind = 'purchase';
ALTER TABLE sagas ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE sagas ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();

-- POST requests carrying an Idempotency-Key: the first response is replayed for the same key
-- and body; an unfinished request older than its lease is taken over.
CREATE TABLE idempotency_keys (
    scope text NOT NULL,
    user_id uuid NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    state text NOT NULL CHECK (state IN ('in_flight', 'done')),
    status_code integer,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Figures fed by the outbox consumers (admin dashboard); each outbox row counted once.
CREATE TABLE event_figures (
    event_id uuid PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    reservations_created bigint NOT NULL DEFAULT 0,
    payments_completed bigint NOT NULL DEFAULT 0,
    payments_failed bigint NOT NULL DEFAULT 0,
    reservations_cancelled bigint NOT NULL DEFAULT 0,
    revenue bigint NOT NULL DEFAULT 0,
    refunded bigint NOT NULL DEFAULT 0,
    sold_out_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE consumed_events (
    consumer text NOT NULL,
    outbox_id bigint NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, outbox_id)
);
