-- What the replicas report to Serve's autoscaling (engine.serve.autoscaling).

-- name: lines_open
-- The events whose line may hold users.
SELECT id FROM events WHERE status IN ('upcoming', 'on_sale', 'sold_out')
