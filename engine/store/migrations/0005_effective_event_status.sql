-- An event's status as buyers see it: a sale past its closing time is closed, an upcoming
-- sale past its opening time is on sale, whatever the stored status has not caught up with.
CREATE OR REPLACE FUNCTION effective_event_status(
    status text, sale_opens_at timestamptz, sale_closes_at timestamptz
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN status IN ('upcoming', 'on_sale') AND sale_closes_at IS NOT NULL
             AND sale_closes_at <= now() THEN 'closed'
        WHEN status = 'upcoming' AND sale_opens_at <= now() THEN 'on_sale'
        ELSE status
    END
$$;
