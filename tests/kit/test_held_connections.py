"""A database's connections are lent by mode (kit/held_connections.py), kept between blocks on
PostgreSQL: what a block gets must behave as a connection fresh from the pool would, whatever the
block before it did on it. Real SQLite and PostgreSQL, one connection where reuse is the point."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.schema import relay_lease
from kit.conftest import create_kit_schema

pytestmark = pytest.mark.service


class Refused(Exception):
    """A rule broken inside a block: the block's writes must not stay."""


@pytest.fixture
async def one_connection_db(database_base: str) -> AsyncIterator[Database]:
    """A database with a pool of one: every block gets the connection the one before it had."""
    db = await Database.connect(service_database_url(database_base, "inventory"), pool_size=1)
    await create_kit_schema(db)
    try:
        yield db
    finally:
        await db.dispose()


async def _names(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(sa.select(relay_lease.c.name))).scalars())


async def _add(conn: AsyncConnection, name: str) -> None:
    await conn.execute(sa.insert(relay_lease).values(name=name, holder="", expires_at_ms=0))


async def test_a_transaction_on_a_connection_last_used_for_reads_still_rolls_back(one_connection_db: Database) -> None:
    db = one_connection_db
    await _names(db)  # the connection is lent for a read (AUTOCOMMIT on PostgreSQL) and kept
    with pytest.raises(Refused):
        async with db.unit_of_work() as uow:
            await _add(uow.conn, "refused")
            raise Refused

    assert "refused" not in await _names(db)


async def test_a_single_statement_after_a_transaction_commits_on_its_own(one_connection_db: Database) -> None:
    db = one_connection_db
    async with db.unit_of_work() as uow:
        await _add(uow.conn, "in-a-transaction")
    async with db.single_statement() as uow:
        await _add(uow.conn, "on-its-own")

    assert {"in-a-transaction", "on-its-own"} <= await _names(db)


async def test_a_block_that_raised_leaves_its_connection_clean_for_the_next(one_connection_db: Database) -> None:
    db = one_connection_db
    for attempt in range(3):  # the same connection, kept each time
        with pytest.raises(Refused):
            async with db.unit_of_work() as uow:
                await _add(uow.conn, f"refused-{attempt}")
                raise Refused
    async with db.unit_of_work() as uow:
        await _add(uow.conn, "kept")

    assert await _names(db) == {"relay", "kept"}


async def test_a_block_cancelled_mid_statement_does_not_spoil_the_next(postgres_kit_db: Database) -> None:
    db = postgres_kit_db
    started = asyncio.Event()

    async def slow_write() -> None:
        async with db.unit_of_work() as uow:
            await _add(uow.conn, "cancelled")
            started.set()
            await uow.conn.execute(sa.text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(slow_write())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for n in range(12):  # more blocks than the pool has connections: each one lent again
        async with db.unit_of_work() as uow:
            await _add(uow.conn, f"after-{n}")

    names = await _names(db)
    assert "cancelled" not in names
    assert {f"after-{n}" for n in range(12)} <= names


async def test_many_blocks_at_once_share_at_most_the_pool_s_connections(postgres_database_base: str) -> None:
    url = service_database_url(postgres_database_base, "inventory")
    db = await Database.connect(url, pool_size=3)
    await create_kit_schema(db)
    sessions: set[int] = set()
    running = 0
    most = 0

    async def block(n: int) -> None:
        nonlocal running, most
        async with contextlib.AsyncExitStack() as stack:
            if n % 3 == 0:
                conn = await stack.enter_async_context(db.read())
            else:
                write = db.single_statement() if n % 3 == 1 else db.unit_of_work()
                conn = (await stack.enter_async_context(write)).conn
            running += 1
            most = max(most, running)
            sessions.add(int(await conn.scalar(sa.text("SELECT pg_backend_pid()")) or 0))
            await asyncio.sleep(0.01)
            running -= 1

    try:
        await asyncio.gather(*(block(n) for n in range(60)))
    finally:
        await db.dispose()

    assert most == 3  # the others waited for one of the three
    assert len(sessions) <= 3  # and were lent those three, whatever their mode
