"""A service's own database: SQLite (WAL) by default, PostgreSQL by URL; its connections and
transactions.

`Database` gives a store what it writes and reads with: units of work (a write transaction and
the events it announces, kit/unit_of_work.py; on SQLite they take the write lock, kit/sqlite.py
says how), reads, and PostgreSQL's single statements committed on their own. Which database a
service uses is kit/db_admin.py's job; the SQL pieces stores build with (the dialect's INSERT, the
database's clock, deadlock reruns) are kit/sql.py's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from flashsale.kit.db_admin import async_url, ensure_postgres_database
from flashsale.kit.envelope import Envelope
from flashsale.kit.errors import DatabaseUnavailable
from flashsale.kit.held_connections import HeldConnections, Mode, PooledConnections
from flashsale.kit.lean_transaction import lean_transaction
from flashsale.kit.sql import now_ms_in
from flashsale.kit.sqlite import BEGIN_OPTION, SQLITE_BUSY_TIMEOUT_S, WriterTurn, configure_sqlite
from flashsale.kit.sqlite_driver import ONE_TRIP_DBAPI
from flashsale.kit.statements import per_dialect
from flashsale.kit.tracing import db_span
from flashsale.kit.unit_of_work import Announcement, UnitOfWork, announcement

# How a block asks for its connection (kit/held_connections.py); one kept on PostgreSQL keeps its mode between loans.
_AUTOCOMMIT = Mode("autocommit", {"isolation_level": "AUTOCOMMIT"})  # PostgreSQL's single statements
_TRANSACTIONS = Mode("transactions")  # the engine's own: BEGIN sent with a transaction's first statement
_IMMEDIATE = Mode("immediate", {BEGIN_OPTION: "IMMEDIATE"})  # SQLite's writes: the write lock up front


@per_dialect
def _NOW_MS(dialect: str) -> sa.Select[tuple[int]]:
    """Built once per dialect (kit/statements.py says why): sweepers and leases read the clock every poll."""
    return sa.select(now_ms_in(dialect).label("now_ms"))


class Database:
    """One service's database: an async engine plus the units of work, transactions and reads
    the stores use. `producer`: the name its events are announced under (the service's), None
    for a database that announces nothing."""

    def __init__(self, engine: AsyncEngine, url: str, *, pool_size: int, producer: str | None = None) -> None:
        self.engine = engine
        self.url = url
        self.producer = producer
        self.is_sqlite = engine.dialect.name == "sqlite"
        # PostgreSQL's connections are kept between blocks (kit/held_connections.py says why);
        # SQLite's go to and from the pool per block, as its measured gain was smaller.
        self._lender = PooledConnections(engine) if self.is_sqlite else HeldConnections(engine, pool_size)
        # On SQLite one writer at a time: this process's in a queue, the processes sharing the
        # file in turns (kit/sqlite.py says why).
        self._writer_turn = WriterTurn(Path(engine.url.database or "")) if self.is_sqlite else None
        self._on_events_committed: list[Callable[[], None]] = []

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10, producer: str | None = None) -> Database:
        """`pool_size` connections at most, kept open once made (no overflow: see the
        FLASHSALE_DB_POOL_SIZE setting for why). `producer`: the service whose events its units
        of work announce."""
        driver_url = async_url(url)
        if driver_url.get_backend_name() == "sqlite":
            Path(driver_url.database or "").parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(
                driver_url, module=ONE_TRIP_DBAPI, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
                pool_size=pool_size,
            )
            configure_sqlite(engine)
        else:
            await ensure_postgres_database(url)
            engine = create_async_engine(driver_url, pool_size=pool_size, max_overflow=0)
        return cls(engine, url, pool_size=pool_size, producer=producer)

    def on_events_committed(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each commit of a unit of work that announced something (the
        relay uses it to publish at once instead of at its next poll)."""
        self._on_events_committed.append(callback)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction and the events it announces (kit/unit_of_work.py): commits on
        exit, rolls back on error; once committed, wakes the relay if it announced something."""
        # A span inside a request or an event when it was slow (the wait for SQLite's lock
        # included) or failed; every one with FLASHSALE_DB_SPAN_MS=0 (kit/tracing.py `db_span`).
        with db_span("db.transaction", {"db.system.name": self.engine.dialect.name}):
            if self._writer_turn is not None:
                async with self._writer_turn, self._begin(immediate=True) as conn:
                    uow = UnitOfWork(conn, self.producer)
                    yield uow
            else:
                async with self._begin(immediate=False) as conn:
                    uow = UnitOfWork(conn, self.producer)
                    yield uow
            self._committed(uow)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction that announces nothing (a lease, a read model, a step's record):
        its connection; commits on exit, rolls back on error. A write that announces an event
        is a `unit_of_work`."""
        async with self.unit_of_work() as uow:
            yield uow.conn

    def announcement(self, envelope: Envelope, *, aggregate_id: str) -> Announcement:
        """`envelope` as the outbox row a unit of work of this database would write, made ahead
        of the single statement that writes it (`UnitOfWork.execute_announcing`)."""
        return announcement(self.producer, envelope, aggregate_id=aggregate_id)

    def _committed(self, uow: UnitOfWork) -> None:
        if uow.announced:
            for callback in self._on_events_committed:
                callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read. On SQLite a read-only transaction: one snapshot for all its statements, and
        never the write lock. On PostgreSQL each statement runs on its own (autocommit): under
        READ COMMITTED every statement takes a fresh snapshot inside a transaction as well, so
        the BEGIN and COMMIT around a read were two round trips that bought nothing."""
        with db_span("db.read", {"db.system.name": self.engine.dialect.name}):
            if self.is_sqlite:
                async with self._begin(immediate=False) as conn:
                    yield conn
            else:
                async with self._statements() as conn:
                    yield conn

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work of ONE statement. On PostgreSQL it commits on its own (autocommit): one
        round trip where BEGIN, the statement and COMMIT are three. A statement is atomic: it
        commits whole or not at all, data-modifying CTEs included; one that announces does so in
        its own CTE (`UnitOfWork.execute_announcing`), and wakes the relay as a unit of work's
        commit does. On SQLite, a write takes the write lock whatever its size: a unit of work."""
        if self.is_sqlite:
            async with self.unit_of_work() as uow:
                yield uow
            return
        # The same span name as a transaction's: it is one (implicit), and commits like one.
        with db_span("db.transaction", {"db.system.name": self.engine.dialect.name, "db.autocommit": True}):
            async with self._statements() as conn:
                uow = UnitOfWork(conn, self.producer, one_statement=True)
                yield uow
            self._committed(uow)

    @asynccontextmanager
    async def _statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection that runs each statement on its own: autocommit on PostgreSQL."""
        async with self._connection(_TRANSACTIONS if self.is_sqlite else _AUTOCOMMIT) as conn:
            yield conn

    @asynccontextmanager
    async def _begin(self, *, immediate: bool) -> AsyncIterator[AsyncConnection]:
        async with self._connection(_IMMEDIATE if immediate else _TRANSACTIONS) as conn, lean_transaction(conn):
            yield conn

    @asynccontextmanager
    async def _connection(self, mode: Mode) -> AsyncIterator[AsyncConnection]:
        """A connection in `mode`, lent by this database's lender. Not getting one (the server down
        or out of connection slots, none free at the pool's timeout), or losing it mid-way (the
        server restarted: every idle one is dropped with it, so the next request connects afresh),
        is an outage, DatabaseUnavailable (a 503), not a bug. Any other error stays what it is."""
        try:
            conn = await self._lender.lend(mode)
        except (DBAPIError, OSError, sa.exc.TimeoutError) as exc:
            raise DatabaseUnavailable(f"{self.engine.dialect.name}: {exc}") from exc
        error: BaseException | None = None
        try:
            yield conn
        except BaseException as exc:
            error = exc
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                raise DatabaseUnavailable(f"{self.engine.dialect.name}: connection lost: {exc.orig}") from exc
            raise
        finally:
            # Cancelled (or stopped) mid-block, perhaps mid-statement: the pool's reset sees to it.
            await self._lender.give_back(conn, interrupted=error is not None and not isinstance(error, Exception))

    async def now_ms(self) -> int:
        """The database's clock in epoch milliseconds: one clock for every instance sharing this
        database, so their decisions about time (a hold's expiry) agree whatever their own clocks say."""
        async with self._statements() as conn:
            return int((await _NOW_MS.run(conn)).scalar() or 0)

    async def ping(self) -> bool:
        try:
            async with self._statements() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - health reports any failure as "down"
            return False

    async def dispose(self) -> None:
        """Close every connection: those kept now, those lent out once given back, and the engine's
        pool's. A later block still gets one (a new one, not kept)."""
        await self._lender.close()
        await self.engine.dispose()
        if self._writer_turn is not None:
            self._writer_turn.close()
