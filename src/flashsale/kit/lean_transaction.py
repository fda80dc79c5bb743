"""A transaction begun and committed without SQLAlchemy's async machinery around it.

`async with conn.begin():` costs a greenlet to begin and another to commit, with an
AsyncTransaction around each. Measured on PostgreSQL (2-core machine, uvloop, a block of one lean
statement, `Database.transaction()` against the same statement in autocommit): ~290 us more CPU
for the transaction, of which the BEGIN and COMMIT on the wire are ~110 us. A checkout makes ~24
transactions across the house.

Neither step needs SQLAlchemy's async bridge:
- Beginning does no I/O on either driver. SQLAlchemy's asyncpg adapter sends BEGIN before the
  transaction's first statement. On SQLite kit/sqlite.py's "begin" hook hands the BEGIN to the
  first statement's trip (kit/sqlite_driver.py). So the synchronous `Connection.begin()` is
  called directly.
- Committing is the driver's COMMIT, awaited here as SQLAlchemy's adapter sends it, followed by
  SQLAlchemy's own commit, which then has nothing left to send: the adapter sees no transaction
  open. Its bookkeeping (the transaction ended, the connection's state, its events) is unchanged.

A failure inside the block ends the transaction as `conn.begin()` would, through SQLAlchemy (a
rollback). A COMMIT the database refuses (a deferred constraint), or a connection lost in it, is
raised as SQLAlchemy raises it (the connection invalidated when it was lost), and the transaction
is over either way: SQLite keeps a transaction whose COMMIT failed open, so it is rolled back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util.concurrency import greenlet_spawn

from flashsale.kit.sqlite_driver import OneTripConnection
from flashsale.kit.statements import raise_as_sqlalchemy


@asynccontextmanager
async def lean_transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """A transaction on `conn` for the block: committed when it ends, rolled back on an error."""
    sync: Any = conn.sync_connection
    transaction = sync.begin()  # no I/O: the module docstring says why
    try:
        yield
    except BaseException as error:
        await greenlet_spawn(transaction.__exit__, type(error), error, error.__traceback__)
        raise
    if not transaction.is_active:  # ended inside the block
        return
    adapted: Any = sync.connection.dbapi_connection
    try:
        await _commit_on_the_driver(adapted)
    except Exception as error:  # raised again below, as SQLAlchemy raises it
        # What the refused COMMIT left open is rolled back: nothing on PostgreSQL (a failed COMMIT
        # ends the transaction), the transaction itself on SQLite (it stays open).
        with contextlib.suppress(Exception):
            await greenlet_spawn(transaction.rollback)
        await greenlet_spawn(raise_as_sqlalchemy, conn, adapted, error, "COMMIT", [])
        raise  # unreachable: the line above raises
    transaction.commit()  # SQLAlchemy's bookkeeping; the adapter has no transaction left to end


async def _commit_on_the_driver(adapted: Any) -> None:
    """The COMMIT SQLAlchemy's adapter would send, sent by the driver; nothing when no transaction
    is open on it (a block that ran no statement)."""
    if isinstance(adapted, OneTripConnection):
        if adapted.ends_something():
            await adapted.commit_on_its_thread()
        return
    if adapted._transaction is not None:  # asyncpg's, as SQLAlchemy's adapter keeps it
        await adapted._call_and_discard(adapted._transaction.commit)
