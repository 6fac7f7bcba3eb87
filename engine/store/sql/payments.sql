-- Payments, one per reservation, and their gateway log (engine.store.payments_repo).

-- name: prepare^
-- The reservation's payment, READY; no row if it exists (the order id is the reservation's).
INSERT INTO payments (reservation_id, user_id, order_id, amount)
VALUES (:reservation_id, :user_id, :order_id, :amount)
ON CONFLICT (order_id) DO NOTHING
RETURNING *

-- name: by_order^
SELECT * FROM payments WHERE order_id = :order_id

-- name: get^
SELECT * FROM payments WHERE id = :id

-- name: set_key^
-- Records the payment key of the buyer's checkout; READY becomes IN_PROGRESS.
UPDATE payments SET payment_key = :payment_key, updated_at = now(),
    status = CASE WHEN status = 'READY' THEN 'IN_PROGRESS' ELSE status END
WHERE order_id = :order_id
RETURNING *

-- name: record_gateway^
-- Copies the gateway's view of the payment; what the gateway leaves out is kept.
UPDATE payments SET status = :status, payment_key = coalesce(:payment_key, payment_key),
    method = coalesce(:method, method), approved_at = coalesce(:approved_at, approved_at),
    balance_amount = :balance_amount, cancel_amount = :cancel_amount, raw = :raw::jsonb,
    updated_at = now()
WHERE order_id = :order_id
RETURNING *

-- name: record_failure^
UPDATE payments SET status = :status, failure_code = :code, failure_message = :message,
    updated_at = now()
WHERE order_id = :order_id
RETURNING *

-- name: log!
INSERT INTO payment_logs (payment_id, order_id, kind, request, response, http_status)
VALUES (:payment_id, :order_id, :kind, :request::jsonb, :response::jsonb, :http_status)
