"""SQLAlchemy's aiosqlite adapter with one trip to the connection's thread per statement.

aiosqlite runs each SQLite connection in a thread of its own; every call into it is a trip there
and back (a queue, a future, a wake-up of the event loop). SQLAlchemy's adapter makes three or
four such trips per statement: a cursor, the statement, its rows, the cursor's close. A trip back
waits for the event loop's next turn, and on a busy loop a turn is milliseconds; a write
transaction holds SQLite's write lock across all of its trips. Measured in the demo's sale (2,000
buyers, two order instances sharing one file): a write transaction made 13-17 trips and held the
lock 2.5-3.7 ms at p50 (the order instances: 30-31 ms at p99) while the other instance's writers
queued behind it. With one trip per statement: 2-4 trips, 2.4-2.7 ms at p50 (what is left is the
commit's fsync), the order instances 18-23 ms at p99, and half the CPU per transaction.

`OneTripCursor` makes it one: the cursor is made, the statement run, its rows fetched and the
cursor closed in the connection's thread, in one call. `OneTripConnection` sends a transaction's
BEGIN with its first statement (kit/sqlite.py's "begin" hook hands it over), and makes no trip
to COMMIT or ROLLBACK when SQLite has no transaction open (the pool rolls back every connection
it gets back). A write transaction of two statements is three trips; a read of one, two. The
connection, its thread and the errors are aiosqlite's and SQLAlchemy's, unchanged;
`Database.connect` hands the engine `ONE_TRIP_DBAPI` as its DBAPI module (create_engine's
`module=`). Written here rather than taken: SQLAlchemy's adapter is generic over asyncio
drivers, and aiosqlite's cursor API is a trip per call.

`one_trip` is the same trip for kit/statements.py's lean run, from async code: without SQLAlchemy's
cursor, execution context and greenlet around it.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# What one trip brings back: the statement's description, rowcount, lastrowid and rows.
Outcome = tuple[Any, int, int | None, list[Any]]


def _run(conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool) -> Outcome:
    """In the connection's thread: the whole of a statement, from cursor to close, after the
    transaction's BEGIN when it is the transaction's first."""
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


async def one_trip(adapted: OneTripConnection, operation: str, parameters: Any, *, many: bool) -> Outcome:
    """Run `operation` on `adapted`'s connection in one trip to its thread (after its transaction's
    BEGIN, when that is still to go): what OneTripCursor does, awaited from async code. The caller
    holds the connection (nothing else runs on it meanwhile) and turns an error into SQLAlchemy's."""
    connection: aiosqlite.Connection = adapted._connection  # type: ignore[assignment]
    in_its_thread: Any = connection._execute  # untyped in aiosqlite
    outcome: Outcome = await in_its_thread(_run, connection._conn, adapted.take_pending_begin(), operation,
                                           parameters, many)
    return outcome


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one trip to the connection's thread (the module's
    docstring says why). Its rows are fetched whole, as SQLAlchemy's adapter fetches them too."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No aiosqlite cursor (that is a trip of its own): the statement makes and closes one.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        # aiosqlite's own cursor runs its calls the same way: `_execute` queues a function for the
        # connection's thread and awaits its result (untyped in aiosqlite).
        in_its_thread: Any = connection._execute
        try:
            begin = self._adapt_connection.take_pending_begin()  # type: ignore[attr-defined]
            outcome: Outcome = await_(in_its_thread(_run, connection._conn, begin, operation, parameters, many))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's adapter turns it into its DBAPI error
            self._adapt_connection._handle_exception(error)
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor was closed in its trip."""

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        raise NotImplementedError("SQLite returns one result set per statement")

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """A connection whose BEGIN travels with its transaction's first statement, and whose COMMIT
    or ROLLBACK makes no trip when there is no transaction to end (the pool rolls back every
    connection it gets back, a read's as well)."""

    __slots__ = ("_begin",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None

    def begin_with_next_statement(self, begin: str) -> None:
        """Begin a transaction with `begin` ("BEGIN IMMEDIATE"), sent with its first statement."""
        self._begin = begin

    def take_pending_begin(self) -> str | None:
        """The BEGIN to send before the next statement, once: None when it has gone."""
        begin, self._begin = self._begin, None
        return begin

    def commit(self) -> None:
        if self.ends_something():
            super().commit()

    def rollback(self) -> None:
        if self.ends_something():
            super().rollback()

    async def commit_on_its_thread(self) -> None:
        """COMMIT, awaited from async code (kit/lean_transaction.py): the trip `commit` makes."""
        await self._connection.commit()

    def ends_something(self) -> bool:
        """Whether SQLite has a transaction open here for a COMMIT or ROLLBACK to end. A BEGIN still
        waiting for its first statement is dropped: no statement ran, so there is nothing to end."""
        if self.take_pending_begin() is not None:  # begun, no statement yet: SQLite has no transaction
            return False
        conn: sqlite3.Connection | None = self._connection._connection
        # Read between statements, while the connection's thread is idle; a closed connection
        # goes on to aiosqlite, which says so.
        return conn is None or conn.in_transaction


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy adapts it, its connections' statements one trip each."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


ONE_TRIP_DBAPI = OneTripDbapi(aiosqlite, sqlite3)
