"""A service's own database: SQLite (WAL) by default, PostgreSQL by URL; its connections and
transactions.

`Database` gives a store what it writes and reads with: write transactions (on SQLite they take
the write lock, kit/sqlite.py says how), reads, and PostgreSQL's single statements committed on
their own. Which database a service uses is kit/db_admin.py's job; the SQL pieces stores build
with (dialect inserts, the database's clock, deadlock reruns) are kit/sql.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from flashsale.kit.db_admin import async_url, ensure_postgres_database
from flashsale.kit.errors import DatabaseUnavailable
from flashsale.kit.sql import database_now_ms
from flashsale.kit.sqlite import BEGIN_OPTION, SQLITE_BUSY_TIMEOUT_S, configure_sqlite
from flashsale.kit.tracing import child_span

_EVENTS_WRITTEN = "flashsale_events_written"


class Database:
    """One service's database: an async engine plus the transaction helpers the stores use."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.is_sqlite = engine.dialect.name == "sqlite"
        # On SQLite only one writer can hold the lock; queueing our own writers here is cheaper
        # than letting them spin on SQLITE_BUSY. Other processes still meet the busy timeout.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._on_events_committed: list[Callable[[], None]] = []

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        """`pool_size` connections at most, kept open once made (no overflow: see the
        FLASHSALE_DB_POOL_SIZE setting for why)."""
        driver_url = async_url(url)
        if driver_url.get_backend_name() == "sqlite":
            Path(driver_url.database or "").parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(
                driver_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, pool_size=pool_size
            )
            configure_sqlite(engine)
        else:
            await ensure_postgres_database(url)
            engine = create_async_engine(driver_url, pool_size=pool_size, max_overflow=0)
        return cls(engine, url)

    def on_events_committed(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each commit of a transaction that called `mark_events_written`
        (the relay uses it to publish at once instead of at its next poll)."""
        self._on_events_committed.append(callback)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: commits on exit, rolls back on error."""
        # A span per transaction inside a request or an event (the wait for SQLite's lock included).
        with child_span("db.transaction", {"db.system.name": self.engine.dialect.name}):
            if self._write_lock is not None:
                async with self._write_lock, self._begin(immediate=True) as conn:
                    yield conn
            else:
                async with self._begin(immediate=False) as conn:
                    yield conn

    def _after_commit(self, wrote_events: bool) -> None:
        if wrote_events:
            for callback in self._on_events_committed:
                callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read. On SQLite a read-only transaction: one snapshot for all its statements, and
        never the write lock. On PostgreSQL each statement runs on its own (autocommit): under
        READ COMMITTED every statement takes a fresh snapshot inside a transaction as well, so
        the BEGIN and COMMIT around a read were two round trips that bought nothing."""
        with child_span("db.read", {"db.system.name": self.engine.dialect.name}):
            if self.is_sqlite:
                async with self._begin(immediate=False) as conn:
                    yield conn
            else:
                async with self._statements() as conn:
                    yield conn

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection]:
        """PostgreSQL only: a write that is ONE statement, committed on its own (autocommit), so
        one round trip where BEGIN, the statement and COMMIT are three. A statement is atomic:
        it commits whole or not at all, data-modifying CTEs included. Events it marks written
        (`mark_events_written`) wake the relay as a transaction's do."""
        if self.is_sqlite:
            raise RuntimeError("single_statement is for PostgreSQL; SQLite writes take the write lock")
        # The same span name as a transaction's: it is one (implicit), and commits like one.
        with child_span("db.transaction", {"db.system.name": self.engine.dialect.name, "db.autocommit": True}):
            async with self._statements() as conn:
                with self._relay_told_after(conn):
                    yield conn

    @asynccontextmanager
    async def _statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection that runs each statement on its own: autocommit on PostgreSQL."""
        async with self._connection() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def _begin(self, *, immediate: bool) -> AsyncIterator[AsyncConnection]:
        async with self._connection() as conn:
            if immediate:
                await conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
            with self._relay_told_after(conn):
                async with conn.begin():
                    yield conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection from the pool. Not getting one (the server down or out of connection slots,
        the pool still exhausted at its timeout), or losing it mid-way (the server restarted: the
        pool then drops every connection it holds, so the next request connects afresh), is an
        outage, DatabaseUnavailable (a 503), not a bug. Any other error stays what it is."""
        conn = self.engine.connect()
        try:
            await conn.start()
        except (DBAPIError, OSError, sa.exc.TimeoutError) as exc:
            raise DatabaseUnavailable(f"{self.engine.dialect.name}: {exc}") from exc
        try:
            yield conn
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable(f"{self.engine.dialect.name}: connection lost: {exc.orig}") from exc
            raise
        finally:
            await conn.close()

    @contextlib.contextmanager
    def _relay_told_after(self, conn: AsyncConnection) -> Iterator[None]:
        """Around a write that commits when the block ends: if it wrote events, wake the relay
        once it has committed; if it failed, nothing new is there to relay."""
        try:
            yield
        except BaseException:
            # A connection lost mid-way (invalidated) is left alone: asking for its info would
            # reconnect, or raise PendingRollbackError over the error that says what happened;
            # the pool clears the info of a connection it makes anew.
            if not conn.invalidated:
                conn.info.pop(_EVENTS_WRITTEN, None)
            raise
        self._after_commit(bool(conn.info.pop(_EVENTS_WRITTEN, False)))

    async def now_ms(self) -> int:
        """The database's clock in epoch milliseconds: one clock for every instance sharing this
        database, so their decisions about time (a hold's expiry) agree whatever their own clocks say."""
        async with self._statements() as conn:
            return int(await conn.scalar(sa.select(database_now_ms(conn))) or 0)

    async def ping(self) -> bool:
        try:
            async with self._statements() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - health reports any failure as "down"
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def mark_events_written(conn: AsyncConnection) -> None:
    """Note, inside a transaction, that it wrote events for the relay (see `on_events_committed`)."""
    conn.info[_EVENTS_WRITTEN] = True
