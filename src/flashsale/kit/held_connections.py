"""How `Database` lends its connections: kept between blocks (PostgreSQL), or from the pool per block.

Why kept, by hand: lending a connection through SQLAlchemy's pool costs its checkout and its
checkin every time (a greenlet each, the pool's queue, the connection's reset), and a PostgreSQL
read or single statement also switches the connection to AUTOCOMMIT and back. Measured (2-core
machine, SQLAlchemy 2.1, asyncpg, uvloop as the services run; one process, 2,000 in a loop, side
by side): a one-statement read cost ~195-230 us of CPU through the pool and ~100 us lent from
here (asyncpg's own fetch: ~50-75 us), a one-statement transaction ~360-445 us and ~280-300 us;
the whole house ~8 % less CPU per checkout. A checkout makes some thirty such blocks.

So a `HeldConnections` keeps up to `size` connections checked out of the engine's pool (which
then never has more than that out, so it never makes anyone wait) and lends them by mode: a
connection keeps the execution options of the mode it was last lent in (AUTOCOMMIT or not), so
lending it in the same mode again sets nothing.

A connection goes back to SQLAlchemy's pool (closed, as before) rather than kept when the block
that borrowed it was interrupted (cancelled, perhaps mid-statement), or it was invalidated: the
pool's reset then does what it always did (a rollback, a connection dropped that cannot take one).
A block that raised an ordinary error left its connection between statements, its transaction
rolled back: that one is kept. When one was lost to the server (a restart), every idle one is
given back too: they are the server's old sessions as well, and the pool, told of the loss,
replaces each on its next checkout. Waiting for a free connection is bounded by the engine pool's
own timeout, as waiting in the pool was.

SQLite's connections go to and from the pool for each block (`PooledConnections`): there a block
gained less by being kept (a read ~335-380 -> ~245-320 us, a write ~515-545 -> ~370-385 us), and
its connections carry the process's write-lock turns (kit/sqlite.py); kept, a cancelled relay's
last write was once seen to hang its test's teardown, cause not found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool


@dataclass(frozen=True, slots=True)
class Mode:
    """How a connection is lent: the execution options set on it, or None for the engine's own
    (those of a connection as the pool hands it out)."""

    name: str
    options: Mapping[str, Any] | None = None


class HeldConnections:
    """Up to `size` connections of `engine`, kept and lent by mode (`lend` / `give_back`)."""

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self._engine = engine
        self._free = asyncio.Semaphore(size)  # one permit per connection not lent out
        self._idle: dict[str, list[AsyncConnection]] = {}
        self._mode_of: dict[AsyncConnection, Mode] = {}  # each held connection's mode
        self._timeout_s = engine.pool.timeout() if isinstance(engine.pool, QueuePool) else 30.0
        self._closed = False  # after `close`: a connection given back goes back to the pool

    async def lend(self, mode: Mode) -> AsyncConnection:
        """A connection in `mode`: an idle one kept in it, else one switched from another mode, else
        a new one from the pool. Raises sa.exc.TimeoutError when none frees up within the pool's
        timeout, and what connecting raises when a new one cannot be made."""
        if self._free.locked():  # a deadline costs a timer: only for a wait
            try:
                async with asyncio.timeout(self._timeout_s):  # not wait_for: kit/waiting.py says why
                    await self._free.acquire()
            except TimeoutError:
                raise sa.exc.TimeoutError(f"no database connection free within {self._timeout_s:g} s") from None
        else:
            await self._free.acquire()  # a free permit: taken without suspending
        try:
            return await self._in_mode(mode)
        except BaseException:
            self._free.release()
            raise

    async def give_back(self, conn: AsyncConnection, *, interrupted: bool) -> None:
        """Keep `conn` for the next borrower. Return it to the pool instead when the block that had
        it was `interrupted` (cancelled mid-statement, perhaps: the pool's reset makes sure of it),
        or it was invalidated (lost: then every idle one goes back too)."""
        try:
            if not (interrupted or conn.invalidated or self._closed) and await self._out_of_transaction(conn):
                self._idle.setdefault(self._mode_of[conn].name, []).append(conn)
                return
            lost = conn.invalidated
            await self._close(conn)
            if lost:
                await self.release_idle()
        finally:
            self._free.release()

    @staticmethod
    async def _out_of_transaction(conn: AsyncConnection) -> bool:
        """Whether `conn` is, or could be put, out of any transaction. One is open after a block
        that ran a statement through SQLAlchemy without beginning one itself (a read in AUTOCOMMIT:
        nothing to roll back but SQLAlchemy's mark)."""
        if not conn.in_transaction():
            return True
        try:
            await conn.rollback()
        except Exception:  # noqa: BLE001 - a connection that cannot roll back is not kept
            return False
        return True

    async def close(self) -> None:
        """Keep no connection from now on (the process is stopping): the idle ones go back to the
        pool now, those lent out when they are given back. Lending still works, from the pool."""
        self._closed = True
        await self.release_idle()

    async def release_idle(self) -> None:
        """Return every idle connection to the pool (they are made afresh when next needed)."""
        idle = [conn for kept in self._idle.values() for conn in kept]
        self._idle.clear()
        for conn in idle:
            await self._close(conn)

    async def _in_mode(self, mode: Mode) -> AsyncConnection:
        kept = self._idle.get(mode.name)
        if kept:
            return kept.pop()
        other = next((conns for conns in self._idle.values() if conns), None)
        if other is None:
            conn = await _from_pool(self._engine)
        elif mode.options is None:  # back to the engine's own options: the pool's reset restores them
            await self._close(other.pop())
            conn = await _from_pool(self._engine)
        else:
            conn = other.pop()
            self._mode_of.pop(conn)
        await _set_options(conn, mode)
        self._mode_of[conn] = mode
        return conn

    async def _close(self, conn: AsyncConnection) -> None:
        self._mode_of.pop(conn, None)
        await conn.close()


class PooledConnections:
    """A connection from the engine's pool for each loan, its mode's options set on it, and back
    to the pool (closed) after it: SQLAlchemy's own way, for SQLite (the module's docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def lend(self, mode: Mode) -> AsyncConnection:
        conn = await _from_pool(self._engine)
        await _set_options(conn, mode)
        return conn

    async def give_back(self, conn: AsyncConnection, *, interrupted: bool) -> None:
        await conn.close()  # the pool's reset, whether the block was interrupted or not

    async def close(self) -> None:
        """Nothing kept: the engine's dispose closes the pool's connections."""


async def _from_pool(engine: AsyncEngine) -> AsyncConnection:
    conn = engine.connect()
    await conn.start()
    return conn


async def _set_options(conn: AsyncConnection, mode: Mode) -> None:
    """`mode`'s execution options on `conn`; one they cannot be set on goes back to the pool."""
    if mode.options is None:
        return
    try:
        await conn.execution_options(**mode.options)
    except BaseException:
        await conn.close()
        raise
