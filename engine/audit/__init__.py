"""The consistency audit of an event (`tiketi audit --event ID`): PostgreSQL's reservations,
items and payments against each other and against every seat shard's durable state, rebuilt
offline from Redis. `checks` and `rebuild` are pure; `sources` reads the stores (never
writing); `report` prints; `command` holds `run_audit` and the command's `main`."""
