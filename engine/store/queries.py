"""Named SQL queries, kept in `.sql` files and loaded once, at import.

A file holds queries in aiosql's convention: each begins with a line `-- name: <name><kind>`,
then optional comment lines that describe it, then its SQL, up to the next name. The kind says
what the query answers and which call runs it:

    (none)  its rows         `fetch`
    ^       one row or None  `fetchrow`
    $       one value        `fetchval`
    !       its status       `execute`
    *!      nothing          `executemany` (once per parameter set, in one pipeline)

Parameters are named (`:event_id`, cast as `:seat_ids::text[]`); a call passes each of them
as a keyword argument, and no other. They become asyncpg's `$1, $2, ...` once, when the file
is loaded, so a call costs a list of its arguments on top of asyncpg's own.

A file does not load if it names a query twice, uses positional `$n` parameters, or has SQL
before its first name; asking it for a query it does not have is an error."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, TypeAlias

import asyncpg

ROWS, ROW, VALUE, EXECUTE, MANY = "", "^", "$", "!", "*!"

_HEADER = re.compile(r"--\s*name:\s*(?P<name>\S*?)(?P<kind>\*!|[\^$!])?\s*")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TOKEN = re.compile(
    r"""
      '(?:[^']|'')*'                    # a string
    | "(?:[^"]|"")*"                    # a quoted identifier
    | --[^\n]*                          # a comment
    | /\*.*?\*/                         # a block comment
    | ::                                # a cast
    | :(?P<param>[A-Za-z_][A-Za-z0-9_]*)
    | \$(?P<positional>[0-9]+)
    """,
    re.VERBOSE | re.DOTALL,
)
Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool
"""What runs a query: a connection, or a pool (on any of its connections)."""
_CALL = {ROWS: "fetch", ROW: "fetchrow", VALUE: "fetchval", EXECUTE: "execute",
         MANY: "executemany"}


class QueryError(ValueError):
    """A `.sql` file that does not load, a query it lacks, or a call that does not fit."""


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    kind: str
    sql: str
    """As asyncpg runs it: `$1, $2, ...` in the order of `params`."""
    params: tuple[str, ...]
    doc: str = ""
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", frozenset(self.params))

    async def fetch(self, conn: Connection, **params: Any) -> list[asyncpg.Record]:
        self._expect(ROWS)
        rows: list[asyncpg.Record] = await conn.fetch(self.sql, *self.args(params))
        return rows

    async def fetchrow(self, conn: Connection, **params: Any) -> asyncpg.Record | None:
        self._expect(ROW)
        return await conn.fetchrow(self.sql, *self.args(params))

    async def fetchval(self, conn: Connection, **params: Any) -> Any:
        self._expect(VALUE)
        return await conn.fetchval(self.sql, *self.args(params))

    async def execute(self, conn: Connection, **params: Any) -> str:
        """The status asyncpg returns (`UPDATE 1`, ...)."""
        self._expect(EXECUTE)
        status: str = await conn.execute(self.sql, *self.args(params))
        return status

    async def executemany(self, conn: Connection,
                          rows: Iterable[Mapping[str, Any]]) -> None:
        self._expect(MANY)
        await conn.executemany(self.sql, [self.args(row) for row in rows])

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments of a call with `values`, which must name every parameter
        and nothing else."""
        try:
            args = [values[name] for name in self.params]
        except KeyError:
            args = []
        if len(args) != len(self.params) or len(values) != len(self.params):
            missing = sorted(self._names - values.keys())
            unknown = sorted(values.keys() - self._names)
            raise QueryError(f"query {self.name}: missing parameters {missing}, "
                             f"unknown parameters {unknown}")
        return args

    def _expect(self, kind: str) -> None:
        if kind != self.kind:
            raise QueryError(f"query {self.name}{self.kind} is run with {_CALL[self.kind]}, "
                             f"not {_CALL[kind]}")


class Queries:
    """The queries of one file, as attributes named after them."""

    def __init__(self, source: str, queries: Iterable[Query]) -> None:
        self._source = source
        self._queries: dict[str, Query] = {}
        for query in queries:
            if query.name in self._queries:
                raise QueryError(f"{source}: query {query.name} is named twice")
            self._queries[query.name] = query
        self.__dict__.update(self._queries)

    def __getattr__(self, name: str) -> Query:
        # Only for names that are not attributes: a query the file does not have.
        if name.startswith("_"):
            raise AttributeError(name)
        raise QueryError(f"{self._source} has no query {name!r}")

    def __iter__(self) -> Iterator[Query]:
        return iter(self._queries.values())

    def __len__(self) -> int:
        return len(self._queries)


def load_queries(package: str, filename: str) -> Queries:
    """The queries of `<package>/sql/<filename>`."""
    source = f"{package.replace('.', '/')}/sql/{filename}"
    text = files(package).joinpath("sql", filename).read_text(encoding="utf-8")
    return Queries(source, parse_queries(text, source=source))


def parse_queries(text: str, *, source: str = "<sql>") -> list[Query]:
    queries: list[Query] = []
    header: re.Match[str] | None = None
    body: list[str] = []
    for number, line in enumerate([*text.splitlines(), None], start=1):
        match = None if line is None else _HEADER.fullmatch(line.strip())
        if line is not None and match is None:
            if header is None and line.strip() and not line.lstrip().startswith("--"):
                raise QueryError(f"{source}:{number}: SQL before the first `-- name:`")
            body.append(line)
            continue
        if header is not None:
            queries.append(_query(header, body, source))
        header, body = match, []
        if match is not None and not _NAME.fullmatch(match["name"]):
            raise QueryError(f"{source}:{number}: a query's name is lower_snake_case, "
                             f"not {match['name']!r}")
    return queries


def _query(header: re.Match[str], body: list[str], source: str) -> Query:
    name, kind = header["name"], header["kind"] or ROWS
    doc: list[str] = []
    while body and (body[0].lstrip().startswith("--") or not body[0].strip()):
        doc.append(body.pop(0).strip().removeprefix("--").strip())
    sql, params = _numbered("\n".join(body).strip(), f"{source}: query {name}")
    if not sql:
        raise QueryError(f"{source}: query {name} has no SQL")
    return Query(name, kind, sql, params, " ".join(line for line in doc if line))


def _numbered(sql: str, where: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its `:name` parameters as `$1, $2, ...` (one number per name), and the
    names in that order."""
    params: list[str] = []

    def replace(token: re.Match[str]) -> str:
        if token["positional"] is not None:
            raise QueryError(f"{where}: ${token['positional']}: parameters are named (:name)")
        name = token["param"]
        if name is None:
            return token[0]
        if name not in params:
            params.append(name)
        return f"${params.index(name) + 1}"

    return _TOKEN.sub(replace, sql), tuple(params)
