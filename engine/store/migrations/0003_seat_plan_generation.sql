-- An event's seat plan can be widened over more shards before its sale opens (hot events).
-- Each plan is a generation: its shard actors and journals are named after it, so a new plan
-- never meets the state of an old one.

ALTER TABLE events ADD COLUMN plan_generation integer NOT NULL DEFAULT 0
    CHECK (plan_generation >= 0);
