"""The system of record: PostgreSQL via asyncpg, parameterized SQL and explicit transactions."""
