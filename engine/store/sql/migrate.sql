-- The bookkeeping of schema migrations (engine.store.migrate).

-- name: lock!
-- Serialises migrating processes until the transaction ends.
SELECT pg_advisory_xact_lock(:key)

-- name: create_table!
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: is_applied$
SELECT true FROM schema_migrations WHERE version = :version

-- name: record!
INSERT INTO schema_migrations (version, applied_at) VALUES (:version, now())
