"""Statements built once, for the hot paths, and run lean.

Built once. SQLAlchemy builds a statement object and computes its cache key every time code
constructs it anew, before it finds the compiled form in its cache. Measured on PostgreSQL (2-core
machine, SQLAlchemy 2.1, asyncpg): a read of one order by key cost ~510 us of the caller's CPU
built per call and ~350 us built once; building an UPDATE of three columns and its cache key alone
took ~160 us. A statement built once, with `sa.bindparam` where its values go, keeps its cache key
(SQLAlchemy memoises it on the object), so executing it costs only the execution.

Run lean. Executing even a statement built once costs SQLAlchemy's machinery per call: a greenlet,
the compiled cache's lookup, an execution context, a cursor adapter and a result object. Measured
on the same machine: ~140 us of CPU per statement through `AsyncConnection.execute` against ~55 us
for asyncpg alone running the same SQL, and SQLAlchemy's share was 20-40 % of every database-owning
service's CPU in a checkout. So a `Statement` is compiled once per dialect by SQLAlchemy (the SQL
text, its bind casts and the order of its parameters are SQLAlchemy's) and run by the driver on the
connection's own driver connection, inside the transaction SQLAlchemy began on it:
`await STATEMENT.run(conn, params)`. On PostgreSQL asyncpg runs it; on SQLite it is one trip to the
connection's thread (kit/sqlite_driver.py's `one_trip`, with the transaction's BEGIN when that is
still to go), as SQLAlchemy's cursor would make it, less the machinery around it. What it answers
reads like SQLAlchemy's result (`first()`, `all()`, `one()`, `scalar()`, `rowcount`; rows by
attribute, index or `_mapping`), and an error is raised as SQLAlchemy would raise it
(IntegrityError, a lost connection invalidated). What cannot be passed through as compiled (an
expanding IN, which `one_of` avoids; an UPDATE whose columns the parameters pick; text;
a type that processes what it reads), and a statement on a SQLite connection SQLAlchemy has not
begun a transaction on, SQLAlchemy runs.

A statement that differs per dialect (ON CONFLICT is PostgreSQL's or SQLite's own insert, the
database's clock is an expression of each) is built once per dialect: `per_dialect`.

Bind parameter names are prefixed `b_` where a statement also sets columns: SQLAlchemy reserves a
column's own name for the value of its SET or VALUES clause.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util.concurrency import greenlet_spawn

from flashsale.kit.sqlite_driver import one_trip

_STATUS_COUNT = re.compile(r"(\d+)$")


class Rows(Protocol):
    """What a statement's run answers: the part of SQLAlchemy's result the stores use."""

    @property
    def rowcount(self) -> int: ...
    def first(self) -> Any: ...
    def one(self) -> Any: ...
    def one_or_none(self) -> Any: ...
    def all(self) -> Sequence[Any]: ...
    def scalar(self) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


class Statement:
    """A statement built once (`build`: a statement, or a function of the dialect's name that
    builds it), compiled once per dialect; `run` executes it with a mapping of bind values."""

    __slots__ = ("_build", "_built", "_compiled")

    def __init__(self, build: sa.Executable | Callable[[str], sa.Executable]) -> None:
        self._build = build
        self._built: dict[str, sa.Executable] = {}
        self._compiled: dict[str, _Compiled | None] = {}

    def __call__(self, conn: AsyncConnection) -> Any:
        """The SQLAlchemy statement for `conn`'s dialect (for `conn.execute`, or to build on)."""
        name = conn.dialect.name
        found = self._built.get(name)
        if found is None:
            found = self._built[name] = self._build(name) if callable(self._build) else self._build
        return found

    async def run(
        self, conn: AsyncConnection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> Rows:
        """Execute with `params`: a mapping of bind values, or a list of them (several rows of an
        INSERT: one pipelined round trip on PostgreSQL, and no row count)."""
        params = {} if params is None else params
        compiled = self._lean(conn)
        if compiled is None or not compiled.takes_all(params):
            result: Rows = await conn.execute(self(conn), params)
            return result
        if compiled.on_sqlite and not conn.in_transaction():  # SQLAlchemy's own begin comes first
            result = await conn.execute(self(conn), params)
            return result
        return await compiled.run(conn, params)

    def _lean(self, conn: AsyncConnection) -> _Compiled | None:
        name = conn.dialect.name
        if name in self._compiled:
            return self._compiled[name]
        lean = name in ("postgresql", "sqlite")
        compiled = self._compiled[name] = _compile(self(conn), conn.dialect) if lean else None
        return compiled


def _each(params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    return [params] if isinstance(params, Mapping) else params


def per_dialect(build: Callable[[str], Any]) -> Statement:
    """A `Statement` built by `build(dialect name)` once per dialect (a decorator)."""
    return Statement(build)


def one_of(column: sa.ColumnElement[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """`column` IN the list bound to `name`, in one SQL text whatever the list's length, so it is
    prepared once and runs lean (an expanding IN is rendered anew for each length, through
    SQLAlchemy, and on SQLite each length was a statement of its own in every connection's cache).
    On PostgreSQL `column = any(CAST(:name AS type[]))`; on SQLite `column IN (SELECT value FROM
    json_each(:name))`, the list bound as one JSON text."""
    if dialect == "postgresql":
        return column == sa.func.any(sa.cast(sa.bindparam(name), postgresql.ARRAY(column.type)))
    return column.in_(_json_each(name))


def none_of(column: sa.ColumnElement[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """`column` NOT IN the list bound to `name` (true for an empty list), as `one_of` renders it:
    `column <> all(...)` on PostgreSQL (not `NOT column = any(...)` negated by SQLAlchemy, which
    would render `column != any(...)`: different from at least one, a different question)."""
    if dialect == "postgresql":
        return column != sa.func.all(sa.cast(sa.bindparam(name), postgresql.ARRAY(column.type)))
    return column.not_in(_json_each(name))


class _JsonList(sa.types.TypeDecorator[Sequence[Any]]):
    """A list bound as one JSON text (SQLite's json_each reads it back as rows)."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Sequence[Any] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value))


def _json_each(name: str) -> sa.Select[Any]:
    values = sa.func.json_each(sa.bindparam(name, type_=_JsonList())).table_valued("value")
    return sa.select(values.c.value)


# -- run by the driver: asyncpg on PostgreSQL, one trip on SQLite ----------------------------


class _Record(asyncpg.Record):  # type: ignore[misc]  # asyncpg ships no types
    """A row read like SQLAlchemy's: by column name as an attribute, by index, or `_mapping`."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return self  # a Record is a read-only mapping by name


class _SqliteRow:
    """A SQLite row (a tuple) read like SQLAlchemy's: by column name as an attribute, by index, or
    `_mapping`. Each statement's rows are of a class of their own that knows its names. Not a
    tuple itself: a column named `count` or `index` is the column's value, not a tuple's method."""

    __slots__ = ("_values",)
    names: ClassVar[tuple[str, ...]] = ()
    _at: ClassVar[dict[str, int]] = {}

    def __init__(self, values: tuple[Any, ...]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[self._at[name]]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, index: int) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return repr(self._values)

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return dict(zip(self.names, self._values, strict=True))


def _sqlite_row(names: tuple[str, ...]) -> type[_SqliteRow]:
    return type("SqliteRow", (_SqliteRow,), {"__slots__": (), "names": names,
                                             "_at": {name: n for n, name in enumerate(names)}})


_Row = _Record | _SqliteRow


@dataclass(slots=True)
class _Rows:
    records: list[_Row]
    rowcount: int

    def first(self) -> _Row | None:
        return self.records[0] if self.records else None

    def one(self) -> _Row:
        if len(self.records) != 1:
            raise sa.exc.NoResultFound("no row") if not self.records else sa.exc.MultipleResultsFound("rows")
        return self.records[0]

    def one_or_none(self) -> _Row | None:
        if len(self.records) > 1:
            raise sa.exc.MultipleResultsFound("rows")
        return self.first()

    def all(self) -> list[_Row]:
        return self.records

    def scalar(self) -> Any:
        return self.records[0][0] if self.records else None

    def __iter__(self) -> Iterator[_Row]:
        return iter(self.records)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]        # the bind parameters in the order of $1, $2, ...
    fixed: Mapping[str, Any]      # values the statement carries itself (`.values(attempts=0)`)
    processors: tuple[Callable[[Any], Any] | None, ...]  # a type's bind processing, per parameter
    returns_rows: bool
    names_every_value: bool       # False: an INSERT whose columns are its parameters' (`table.insert()`)
    on_sqlite: bool
    row: type[_SqliteRow]         # on SQLite, its rows (tuples) read like SQLAlchemy's by this statement's names

    def takes(self, params: Mapping[str, Any]) -> bool:
        """Whether `params` give this compiled form every value it binds. An INSERT whose columns
        are the parameters' compiled with all of the table's: a row that leaves one out (for its
        default) is SQLAlchemy's to run."""
        return self.names_every_value or all(name in params for name in self.names)

    def takes_all(self, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> bool:
        """Whether this compiled form runs `params` as SQLAlchemy would: each row gives it every
        value, and several rows (run without answering any) are not asked for rows."""
        if isinstance(params, Mapping):
            return self.takes(params)
        return bool(params) and not self.returns_rows and all(self.takes(one) for one in params)

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        values = [params[name] if name in params else self.fixed[name] for name in self.names]
        for n, process in enumerate(self.processors):
            if process is not None:
                values[n] = process(values[n])
        return values

    async def run(self, conn: AsyncConnection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> _Rows:
        """Run by the driver on the connection SQLAlchemy holds for `conn`, under its lock; an
        error raised as SQLAlchemy raises it."""
        many = not isinstance(params, Mapping)
        rows: list[list[Any]] = [[]]
        adapted: Any = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        try:
            rows = [self.values(one) for one in _each(params)]  # a type refusing a value: StatementError
            async with adapted._execute_mutex:
                if self.on_sqlite:
                    return await self._by_sqlite(adapted, rows, many)
                return await self._by_asyncpg(adapted, rows, many)
        except Exception as error:  # raised again as SQLAlchemy raises it
            await greenlet_spawn(raise_as_sqlalchemy, conn, adapted, error, self.sql, rows[0])
            raise  # unreachable: the line above raises

    async def _by_asyncpg(self, adapted: Any, rows: list[list[Any]], many: bool) -> _Rows:
        # The BEGIN SQLAlchemy's adapter sends lazily before a transaction's first statement, as
        # its cursor would.
        if adapted._transaction is None:
            await adapted._start_transaction()
        driver: asyncpg.Connection = adapted._connection
        if many:
            await driver.executemany(self.sql, rows)  # pipelined: one round trip for them all
            return _Rows([], -1)  # as SQLAlchemy's asyncpg dialect: no count for several rows
        if self.returns_rows:
            records = await driver.fetch(self.sql, *rows[0], record_class=_Record)
            return _Rows(records, len(records))
        status = await driver.execute(self.sql, *rows[0])
        counted = _STATUS_COUNT.search(status)
        return _Rows([], int(counted.group(1)) if counted else -1)

    async def _by_sqlite(self, adapted: Any, rows: list[list[Any]], many: bool) -> _Rows:
        # One trip to the connection's thread, the transaction's BEGIN with it (kit/sqlite_driver.py).
        _, rowcount, _, found = await one_trip(adapted, self.sql, rows if many else rows[0], many=many)
        if many:
            return _Rows([], -1)  # as on PostgreSQL: no count for several rows
        if self.returns_rows:
            return _Rows([self.row(values) for values in found], len(found))
        return _Rows([], rowcount)


def raise_as_sqlalchemy(conn: AsyncConnection, adapted: Any, error: Exception, sql: str, values: list[Any]) -> None:
    """`error` as SQLAlchemy raises a driver's error: translated to the DBAPI's class, wrapped in
    sqlalchemy.exc's, the connection invalidated when it was lost. Inside a greenlet: an
    invalidation closes the connection through SQLAlchemy's async bridge."""
    try:
        adapted._handle_exception(error)
    except Exception as translated:  # noqa: BLE001 - the DBAPI's form of `error`, whatever it is
        sync: Any = conn.sync_connection
        sync._handle_dbapi_exception(translated, sql, tuple(values), None, None)
    raise error


def _compile(statement: sa.Executable, dialect: Dialect) -> _Compiled | None:
    """The statement's SQL and parameter order as SQLAlchemy compiles it for the driver, or None
    when SQLAlchemy would do more than pass values through and process them (a type that
    processes what it reads, an expanding IN, an UPDATE whose columns the parameters choose):
    such a statement runs through SQLAlchemy."""
    if isinstance(statement, sa.TextClause):
        return None  # whether it answers rows, only running it tells
    names_every_value = not isinstance(statement, sa.Insert | sa.Update) or bool(statement._values)
    if isinstance(statement, sa.Update) and not names_every_value:
        return None  # it sets whichever columns the parameters name: compiled per call by SQLAlchemy
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]  # every statement compiles
    if compiled.positiontup is None or any(bind.expanding for bind in compiled.binds.values()):
        return None
    for column in compiled._result_columns:
        if column[3]._cached_result_processor(dialect, None) is not None:
            return None
    names = tuple(compiled.positiontup)
    processors = tuple(compiled._bind_processors.get(name) for name in names)
    fixed = compiled.construct_params(_check=False)
    returns_rows = bool(compiled._result_columns) or bool(getattr(compiled, "effective_returning", None))
    # The names as the SQL renders them: what PostgreSQL's rows answer to as well.
    columns = tuple(column[1] for column in compiled._result_columns)
    on_sqlite = dialect.name == "sqlite"
    return _Compiled(compiled.string, names, fixed, processors, returns_rows, names_every_value,
                     on_sqlite, _sqlite_row(columns) if on_sqlite else _SqliteRow)
