"""SQLite as a service's database: WAL, a busy timeout, durable commits, and our own BEGIN.

Write transactions on SQLite start with `BEGIN IMMEDIATE` (`Database` asks for it through the
connection option `BEGIN_OPTION`), so a transaction that will write takes the write lock up front
instead of failing with SQLITE_BUSY half way (the deferred default lets two readers both decide
to write). Reads use plain deferred transactions and never block writers.

Several processes writing one database (the order service's instances) take turns through
`WriterTurn` before their BEGIN IMMEDIATE, so a writer waits in the kernel and is woken the moment
the lock is free rather than in SQLite's busy handler, which sleeps and tries again.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

BEGIN_OPTION = "flashsale_begin"  # execution option: what follows BEGIN ("IMMEDIATE" or nothing)
SQLITE_BUSY_TIMEOUT_S = 30


def configure_sqlite(engine: AsyncEngine) -> None:
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
        mode = conn.get_execution_options().get(BEGIN_OPTION, "")
        # Sent with the transaction's first statement, in its trip (kit/sqlite_driver.py).
        conn.connection.dbapi_connection.begin_with_next_statement(f"BEGIN {mode}".strip())


class WriterTurn:
    """One writer at a time on a SQLite database: this process's writers in a queue (cheaper than
    letting them spin on SQLITE_BUSY), and the processes sharing the file in turns, through an
    exclusive `flock` on a file beside it, held from before BEGIN IMMEDIATE until after COMMIT or
    ROLLBACK.

    Why: SQLite's busy handler waits for another process's write lock by sleeping and trying again
    (1, 2, 5, ... up to 100 ms apart), so a writer of one instance could sleep while the other
    instance wrote on and on. In the demo's sale (two order instances, ~60 pays in half a second) a
    pay's transactions waited up to 0.9-1.2 s; taking turns, up to ~0.45 s (p50 ~180-275 ms either
    way: the lock is as busy, its waits are fairer). Four sales each, side by side: order p99
    1.5-4.0 s -> 1.2-1.8 s, pay p99 2.7-5.9 s -> 2.3-3.2 s, pay p50 1.4-1.8 s either way. A
    process waiting on an `flock` sleeps in the kernel, which wakes it when the holder lets go.
    SQLite's own lock still decides what is correct; this only decides who goes next, and a
    process that dies lets go. A turn is one write: keeping it for a run of up to 8 of the holder's
    queued writes was worse (pay p50 1.7-2.1 s, p99 3.2-3.9 s, two sales), as was no turn at all.

    The queue comes first: an `flock` is held by an open file, not by a task, so only one task of
    the process at a time may ask for it."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".writer")
        self._fd: int | None = None
        self._queue = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._queue.acquire()
        try:
            await self._take()
        except BaseException:
            self._queue.release()
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None,
    ) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._queue.release()

    async def _take(self) -> None:
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no thread needed
            return
        except BlockingIOError:
            pass
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread will get the lock for nobody: let it go as soon as it does.
            waiting.add_done_callback(functools.partial(_let_go_if_got, fd))
            raise

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _let_go_if_got(fd: int, got: asyncio.Future[None]) -> None:
    if not got.cancelled() and got.exception() is None:
        fcntl.flock(fd, fcntl.LOCK_UN)
