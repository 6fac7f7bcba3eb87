-- Users; emails are unique regardless of case (engine.store.users_repo).

-- name: create_user^
INSERT INTO users (email, password_hash, name, role)
VALUES (:email, :password_hash, :name, :role)
RETURNING *

-- name: get_user^
SELECT * FROM users WHERE id = :id

-- name: find_by_email^
SELECT * FROM users WHERE lower(email) = lower(:email)

-- name: record_login_failure^
-- Counts a failed login; the :max_failures-th locks the account for :lock_seconds. A lock
-- that has run out starts the count again.
UPDATE users SET
    failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= now()
                         THEN 1 ELSE failed_logins + 1 END,
    locked_until = CASE
        WHEN locked_until IS NOT NULL AND locked_until > now() THEN locked_until
        WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= now()
                   THEN 1 ELSE failed_logins + 1 END) >= :max_failures
            THEN now() + make_interval(secs => :lock_seconds)
        WHEN locked_until IS NOT NULL AND locked_until <= now() THEN NULL
        ELSE locked_until END,
    updated_at = now()
WHERE id = :id
RETURNING *

-- name: record_login_success!
UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = now()
WHERE id = :id AND (failed_logins <> 0 OR locked_until IS NOT NULL)

-- name: set_password!
UPDATE users SET password_hash = :password_hash, updated_at = now() WHERE id = :id
