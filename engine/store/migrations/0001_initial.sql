CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CHECK (email <> ''),
    password_hash text NOT NULL,
    name text NOT NULL,
    role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE refresh_tokens (
    jti uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id uuid NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz,
    replaced_by uuid
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text UNIQUE CHECK (slug <> ''),
    title text NOT NULL CHECK (title <> ''),
    description text NOT NULL DEFAULT '',
    category text NOT NULL,
    venue_name text NOT NULL,
    venue_focal_x double precision NOT NULL DEFAULT 0,
    venue_focal_y double precision NOT NULL DEFAULT 0,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz,
    sale_opens_at timestamptz NOT NULL,
    sale_closes_at timestamptz,
    status text NOT NULL DEFAULT 'upcoming'
        CHECK (status IN ('draft', 'upcoming', 'on_sale', 'sold_out', 'closed', 'cancelled')),
    hold_ttl_s double precision NOT NULL CHECK (hold_ttl_s > 0),
    hold_extension_s double precision NOT NULL CHECK (hold_extension_s >= 0),
    hold_max_extensions integer NOT NULL CHECK (hold_max_extensions >= 0),
    hold_max_lifetime_s double precision NOT NULL,
    per_user_limit integer NOT NULL CHECK (per_user_limit >= 1),
    admission_rate double precision NOT NULL CHECK (admission_rate > 0),
    active_cap integer NOT NULL CHECK (active_cap >= 1),
    heartbeat_timeout_s double precision NOT NULL CHECK (heartbeat_timeout_s > 0),
    session_ttl_s double precision NOT NULL CHECK (session_ttl_s > 0),
    shard_count integer NOT NULL CHECK (shard_count >= 1),
    seat_count integer NOT NULL DEFAULT 0 CHECK (seat_count >= 0),
    ga_quantity integer NOT NULL DEFAULT 0 CHECK (ga_quantity >= 0),
    queue_seed_hash text NOT NULL,
    queue_seed text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    CHECK (hold_max_lifetime_s >= hold_ttl_s),
    CHECK (ends_at IS NULL OR ends_at >= starts_at),
    CHECK (sale_closes_at IS NULL OR sale_closes_at > sale_opens_at)
);
CREATE INDEX events_status_starts_idx ON events (status, starts_at);
CREATE INDEX events_category_idx ON events (category);

CREATE TABLE event_sections (
    event_id uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    section_id text NOT NULL,
    name text NOT NULL,
    ordinal integer NOT NULL CHECK (ordinal >= 0),
    shard integer NOT NULL CHECK (shard >= 0),
    PRIMARY KEY (event_id, section_id),
    UNIQUE (event_id, ordinal)
);

CREATE TABLE seats (
    event_id uuid NOT NULL,
    seat_id text NOT NULL,
    section_id text NOT NULL,
    row_label text NOT NULL,
    row_ordinal integer NOT NULL CHECK (row_ordinal >= 0),
    number integer NOT NULL,
    seat_ordinal integer NOT NULL CHECK (seat_ordinal >= 0),
    grade text NOT NULL,
    price bigint NOT NULL CHECK (price >= 0),
    x double precision NOT NULL DEFAULT 0,
    y double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, seat_id),
    FOREIGN KEY (event_id, section_id)
        REFERENCES event_sections (event_id, section_id) ON DELETE CASCADE
);
CREATE INDEX seats_section_idx ON seats (event_id, section_id, seat_ordinal);

CREATE TABLE ticket_types (
    event_id uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    ticket_type_id text NOT NULL,
    name text NOT NULL,
    grade text NOT NULL,
    price bigint NOT NULL CHECK (price >= 0),
    quantity integer NOT NULL CHECK (quantity >= 0),
    shard integer NOT NULL CHECK (shard >= 0),
    ordinal integer NOT NULL CHECK (ordinal >= 0),
    PRIMARY KEY (event_id, ticket_type_id),
    UNIQUE (event_id, ordinal)
);

CREATE TABLE reservations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id),
    event_id uuid NOT NULL REFERENCES events (id),
    status text NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'FAILED', 'EXPIRED')),
    total_amount bigint NOT NULL CHECK (total_amount >= 0),
    currency text NOT NULL DEFAULT 'KRW',
    idempotency_key text,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz,
    cancelled_at timestamptz
);
CREATE UNIQUE INDEX reservations_idempotency_key ON reservations (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX reservations_event_status_idx ON reservations (event_id, status);
CREATE INDEX reservations_user_created_idx ON reservations (user_id, created_at DESC);

CREATE TABLE reservation_items (
    id bigserial PRIMARY KEY,
    reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    event_id uuid NOT NULL,
    shard integer NOT NULL CHECK (shard >= 0),
    hold_id text NOT NULL,
    seat_id text,
    ticket_type_id text,
    quantity integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    price bigint NOT NULL CHECK (price >= 0),
    active boolean NOT NULL DEFAULT true,
    CHECK ((seat_id IS NOT NULL) <> (ticket_type_id IS NOT NULL)),
    CHECK (seat_id IS NULL OR quantity = 1),
    FOREIGN KEY (event_id, seat_id) REFERENCES seats (event_id, seat_id),
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, ticket_type_id)
);
CREATE UNIQUE INDEX reservation_items_active_seat_key ON reservation_items (event_id, seat_id)
    WHERE active AND seat_id IS NOT NULL;
CREATE INDEX reservation_items_shard_idx ON reservation_items (event_id, shard) WHERE active;
CREATE INDEX reservation_items_hold_idx ON reservation_items (hold_id);
CREATE INDEX reservation_items_reservation_idx ON reservation_items (reservation_id);

CREATE TABLE payments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reservation_id uuid NOT NULL REFERENCES reservations (id),
    order_id text NOT NULL UNIQUE,
    payment_key text UNIQUE,
    amount bigint NOT NULL CHECK (amount >= 0),
    status text NOT NULL DEFAULT 'READY'
        CHECK (status IN (
            'READY', 'IN_PROGRESS', 'DONE', 'CANCELED', 'PARTIAL_CANCELED', 'ABORTED', 'EXPIRED'
        )),
    method text,
    approved_at timestamptz,
    balance_amount bigint CHECK (balance_amount >= 0),
    raw jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_reservation_idx ON payments (reservation_id);

CREATE TABLE payment_logs (
    id bigserial PRIMARY KEY,
    payment_id uuid REFERENCES payments (id) ON DELETE SET NULL,
    order_id text,
    kind text NOT NULL,
    request jsonb,
    response jsonb,
    http_status integer,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_logs_order_idx ON payment_logs (order_id);
CREATE INDEX payment_logs_payment_idx ON payment_logs (payment_id);

CREATE TABLE sagas (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind text NOT NULL,
    reservation_id uuid,
    state text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX sagas_unfinished_idx ON sagas (state) WHERE finished_at IS NULL;
CREATE INDEX sagas_reservation_idx ON sagas (reservation_id);

CREATE TABLE saga_log (
    id bigserial PRIMARY KEY,
    saga_id uuid NOT NULL,
    reservation_id uuid,
    step text NOT NULL,
    status text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saga_log_saga_idx ON saga_log (saga_id, id);

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    user_id uuid,
    ip text,
    action text NOT NULL,
    outcome text NOT NULL,
    status_code integer,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
