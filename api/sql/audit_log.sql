-- The security audit log (api.audit).

-- name: insert_entries!
-- Writes a batch of entries, one array per column, in one statement.
INSERT INTO audit_log (at, user_id, ip, action, outcome, status_code, details)
SELECT * FROM unnest(
    :at::timestamptz[], :user_id::uuid[], :ip::text[], :action::text[], :outcome::text[],
    :status_code::int[], :details::jsonb[]
)
