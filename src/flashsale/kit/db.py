"""A service's own database: SQLite (WAL) by default, PostgreSQL by URL.

Every service gets a database of its own. `service_database_url` turns the one URL an operator
gives (`--database postgresql://user@host/`) into a per-service URL; `Database.connect` creates
the PostgreSQL database when it is missing.

Write transactions on SQLite start with `BEGIN IMMEDIATE`, so a transaction that will write takes
the write lock up front instead of failing with SQLITE_BUSY half way (the deferred default lets
two readers both decide to write). Reads use plain deferred transactions and never block writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_random

from flashsale.kit.errors import DatabaseUnavailable
from flashsale.kit.tracing import child_span

_BEGIN_OPTION = "flashsale_begin"
_EVENTS_WRITTEN = "flashsale_events_written"
_SQLITE_NOW_MS = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
_POSTGRES_NOW_MS = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
SQLITE_BUSY_TIMEOUT_S = 30
log = structlog.get_logger(__name__)

DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE for the transaction it rolled back to break a cycle
P = ParamSpec("P")
R = TypeVar("R")


def service_database_url(base: str, service: str, data_dir: Path | None = None) -> str:
    """The URL of `service`'s own database, derived from the operator's base URL.

    - empty base: `sqlite:///<data_dir>/<service>.db`
    - `sqlite:///some/dir/`: a file per service in that directory
    - `postgresql://user@host/` → database `flashsale_<service>`;
      `postgresql://user@host/prefix` → database `prefix_<service>`
    """
    if not base:
        if data_dir is None:
            raise ValueError("a data directory is needed for the default SQLite databases")
        return f"sqlite:///{(data_dir / f'{service}.db').resolve()}"
    url = make_url(base)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or ".")
        if not path.suffix:
            path = path / f"{service}.db"
        return f"sqlite:///{path.resolve()}"
    if url.get_backend_name() == "postgresql":
        prefix = url.database or "flashsale"
        name = re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{service}".lower())
        return url.set(database=name).render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {base!r}: use sqlite:/// or postgresql://")


def _async_url(url: str) -> sa.URL:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+asyncpg")


async def ensure_postgres_database(url: str) -> None:
    """Create the database named in `url` if it does not exist (two processes may race: fine)."""
    import asyncpg  # local: only PostgreSQL deployments need the driver loaded

    parsed = make_url(url)
    name = parsed.database
    admin = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another instance won the race: PostgreSQL reports it as either error, depending on timing.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


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
        async_url = _async_url(url)
        if async_url.get_backend_name() == "sqlite":
            Path(async_url.database or "").parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(
                async_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, pool_size=pool_size
            )
            _configure_sqlite(engine)
        else:
            await ensure_postgres_database(url)
            engine = create_async_engine(async_url, pool_size=pool_size, max_overflow=0)
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
                await conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
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


def database_now_ms(conn: AsyncConnection) -> sa.ColumnElement[int]:
    """The database's clock in epoch milliseconds, as part of a statement on `conn`. Leases are
    judged by it: every instance sharing the database reads one clock, so a process whose own
    clock runs ahead cannot take a lease that has not run out."""
    return now_ms_in(conn.dialect.name)


def now_ms_in(dialect: str) -> sa.ColumnElement[int]:
    """`database_now_ms` for a dialect by name (for a statement built once per dialect)."""
    sql = _SQLITE_NOW_MS if dialect == "sqlite" else _POSTGRES_NOW_MS
    return sa.literal_column(sql, sa.BigInteger())


def mark_events_written(conn: AsyncConnection) -> None:
    """Note, inside a transaction, that it wrote events for the relay (see `on_events_committed`)."""
    conn.info[_EVENTS_WRITTEN] = True


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, and our own BEGIN (recipe from SQLAlchemy's aiosqlite docs)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a hold acknowledged with 200 survives a power cut, not just a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def sqlstate(error: DBAPIError) -> str | None:
    """The SQLSTATE code PostgreSQL gave the failed statement (None from SQLite)."""
    code = getattr(error.orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def broke_a_deadlock(error: BaseException) -> bool:
    """PostgreSQL rolled this transaction back to break a deadlock: nothing of it stayed."""
    return isinstance(error, DBAPIError) and sqlstate(error) == DEADLOCK_DETECTED


def rerun_deadlock_victims(
    attempts: int = 3,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Run a function that is one whole transaction again when PostgreSQL picked it to break a
    deadlock. Locks taken in one order everywhere make cycles rare, not impossible (a write-off
    must lock the stock of a revoked hold's other products after its own): the victim is chosen
    by whichever waiter's deadlock_timeout runs out first, and since it rolled back whole, running
    it again is what the caller would have to do, minus the 500."""
    return retry(
        retry=retry_if_exception(broke_a_deadlock), stop=stop_after_attempt(attempts),
        wait=wait_random(0.005, 0.05), reraise=True, before_sleep=_say_rerun,
    )


def _say_rerun(state: RetryCallState) -> None:
    log.warning("deadlock_victim_rerun", transaction=getattr(state.fn, "__qualname__", "?"),
                attempt=state.attempt_number)


def insert_unless_present(conn: AsyncConnection, table: sa.Table, **values: Any) -> sa.Executable:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect: its rowcount says whether the
    row is new (a concurrent insert of the same key waits for the other transaction's outcome)."""
    statement: sa.Executable = insert_skipping_present(conn, table).values(**values)
    return statement


def insert_skipping_present(conn: AsyncConnection, table: sa.Table) -> Any:
    """The dialect's INSERT ... ON CONFLICT DO NOTHING, values to come: with several rows and
    RETURNING, only the rows that were new come back."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


def dialect_insert(conn: AsyncConnection, table: sa.Table) -> Any:
    """The connection's dialect's INSERT (SQLite's or PostgreSQL's, alike in what we use): the one
    with ON CONFLICT DO NOTHING / DO UPDATE."""
    return insert_in(conn.dialect.name, table)


def insert_in(dialect: str, table: sa.Table) -> Any:
    """`dialect_insert` for a dialect by name (for a statement built once per dialect)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(table)
