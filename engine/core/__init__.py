"""The pure domain: seat inventory, ticket ledger, waiting room, commands, events and errors.

Nothing here imports ray, redis, asyncpg or starlette, reads the OS clock or draws random
numbers: time comes from an injected `Clock` and randomness from the shells."""
