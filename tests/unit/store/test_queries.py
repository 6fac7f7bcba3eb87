"""The named-query loader: how a `.sql` file is read, how parameters become asyncpg's, and
what it refuses. Every `.sql` file the code loads parses."""

from __future__ import annotations

import pathlib
import tomllib
from typing import Any

import pytest

from engine.store.queries import (
    EXECUTE,
    MANY,
    ROW,
    ROWS,
    VALUE,
    Queries,
    Query,
    QueryError,
    load_queries,
    parse_queries,
)

TEXT = """
-- What the file is about: comments before the first query are allowed.

-- name: get_event^
-- One event, by id.
-- (two lines of description)
SELECT * FROM events WHERE id = :event_id

-- name: events_of
SELECT id FROM events
WHERE status = ANY(:statuses::text[]) AND (:q::text IS NULL OR title ILIKE :q)
ORDER BY id

-- name: count_events$
SELECT count(*) FROM events WHERE kind = 'a:b' AND note = ':not_a_param' -- :nor_this
    AND "odd:name" = :value /* :nor_that */

-- name: touch!
UPDATE events SET updated_at = now() WHERE id = :id

-- name: insert_seat*!
INSERT INTO seats (event_id, seat_id) VALUES (:event_id, :seat_id)
"""


def queries() -> Queries:
    return Queries("test.sql", parse_queries(TEXT))


def test_a_file_gives_its_queries_with_their_kind_and_description() -> None:
    q = queries()
    assert [(query.name, query.kind) for query in q] == [
        ("get_event", ROW), ("events_of", ROWS), ("count_events", VALUE), ("touch", EXECUTE),
        ("insert_seat", MANY),
    ]
    assert q.get_event.doc == "One event, by id. (two lines of description)"
    assert q.get_event.sql == "SELECT * FROM events WHERE id = $1"


def test_parameters_are_numbered_once_by_name_in_order_of_appearance() -> None:
    events_of = queries().events_of
    assert events_of.params == ("statuses", "q")
    assert events_of.sql == (
        "SELECT id FROM events\n"
        "WHERE status = ANY($1::text[]) AND ($2::text IS NULL OR title ILIKE $2)\n"
        "ORDER BY id"
    )
    assert events_of.args({"q": "%rock%", "statuses": ["on_sale"]}) == [["on_sale"], "%rock%"]


def test_strings_quoted_names_comments_and_casts_are_not_parameters() -> None:
    count = queries().count_events
    assert count.params == ("value",)
    assert "'a:b'" in count.sql and "':not_a_param'" in count.sql
    assert "-- :nor_this" in count.sql and "/* :nor_that */" in count.sql
    assert '"odd:name" = $1' in count.sql


def test_a_call_names_every_parameter_and_no_other() -> None:
    events_of = queries().events_of
    with pytest.raises(QueryError, match=r"missing parameters \['q'\]"):
        events_of.args({"statuses": []})
    with pytest.raises(QueryError, match=r"unknown parameters \['limit'\]"):
        events_of.args({"statuses": [], "q": None, "limit": 3})


def test_a_missing_query_is_an_error() -> None:
    with pytest.raises(QueryError, match=r"test\.sql has no query 'get_evnet'"):
        queries().get_evnet  # noqa: B018


@pytest.mark.parametrize(("text", "error"), [
    ("-- name: a^\nSELECT 1\n-- name: a$\nSELECT 2", "query a is named twice"),
    ("-- name: a\nSELECT * FROM t WHERE id = $1", r"\$1: parameters are named"),
    ("SELECT 1\n-- name: a\nSELECT 2", "SQL before the first"),
    ("-- name: a\n-- only words\n", "query a has no SQL"),
    ("-- name: Get-Event\nSELECT 1", "lower_snake_case"),
])
def test_a_file_that_does_not_load(text: str, error: str) -> None:
    with pytest.raises(QueryError, match=error):
        Queries("bad.sql", parse_queries(text, source="bad.sql"))


class Recorder:
    """A connection that records what it is asked to run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.calls.append(("fetch", sql, args))
        return []

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.calls.append(("fetchrow", sql, args))
        return None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.calls.append(("fetchval", sql, args))
        return 0

    async def execute(self, sql: str, *args: Any) -> str:
        self.calls.append(("execute", sql, args))
        return "UPDATE 1"

    async def executemany(self, sql: str, args: list[list[Any]]) -> None:
        self.calls.append(("executemany", sql, tuple(args)))


async def test_each_kind_runs_with_its_call_and_positional_arguments() -> None:
    q, conn = queries(), Recorder()
    await q.get_event.fetchrow(conn, event_id=7)
    await q.events_of.fetch(conn, q=None, statuses=["on_sale"])
    await q.count_events.fetchval(conn, value=1)
    assert await q.touch.execute(conn, id=3) == "UPDATE 1"
    await q.insert_seat.executemany(conn, [{"event_id": 1, "seat_id": "A-1-1"},
                                           {"seat_id": "A-1-2", "event_id": 1}])
    assert [(call, args) for call, _, args in conn.calls] == [
        ("fetchrow", (7,)), ("fetch", (["on_sale"], None)), ("fetchval", (1,)),
        ("execute", (3,)), ("executemany", ([1, "A-1-1"], [1, "A-1-2"])),
    ]


async def test_a_query_runs_only_with_the_call_its_kind_names() -> None:
    q = queries()
    with pytest.raises(QueryError, match=r"get_event\^ is run with fetchrow, not fetch"):
        await q.get_event.fetch(Recorder(), event_id=7)
    with pytest.raises(QueryError, match="insert_seat"):
        await q.insert_seat.execute(Recorder(), event_id=1, seat_id="A-1-1")


ROOT = pathlib.Path(__file__).parents[3]
SQL_FILES = sorted(
    (".".join(path.parent.parent.relative_to(ROOT).parts), path.name)
    for top in ("engine", "api", "benchmarks") for path in (ROOT / top).rglob("sql/*.sql"))


@pytest.mark.parametrize(("package", "filename"), SQL_FILES)
def test_every_sql_file_of_the_code_loads(package: str, filename: str) -> None:
    loaded = load_queries(package, filename)
    assert len(loaded) > 0
    assert all(isinstance(query, Query) and query.sql for query in loaded)


def test_every_sql_and_lua_file_is_shipped_with_the_package() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert len(SQL_FILES) >= 10
    for package, _ in SQL_FILES:
        if package.split(".")[0] in ("engine", "api"):  # benchmarks run from a checkout
            assert "sql/*.sql" in package_data.get(package, []), package
    assert "*.lua" in package_data["engine.store"]
