"""SQLite's statements are one trip each to their connection's thread, the transaction's BEGIN
travelling with its first (kit/sqlite_driver.py), and transactions are what they were: a read is
one snapshot, a write commits whole or not at all, errors are SQLAlchemy's, and a transaction that
ran no statement leaves its connection clean."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from flashsale.kit.db import Database

ITEMS = sa.table("items", sa.column("id", sa.Integer), sa.column("name", sa.String))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.connect(f"sqlite:///{tmp_path / 'driver.db'}", pool_size=2)
    async with database.transaction() as conn:
        await conn.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"))
    yield database
    await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The calls made into connections' threads, by function name (a spy on aiosqlite's queue:
    every call, aiosqlite's own included, goes through it)."""
    made: list[str] = []
    queue = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object) -> object:
        made.append(getattr(fn, "__name__", type(fn).__name__))
        return await queue(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield made


async def _names(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(sa.select(ITEMS.c.name).order_by(ITEMS.c.id))).scalars())


async def test_a_write_transaction_is_a_trip_per_statement_and_one_to_commit(db: Database, trips: list[str]) -> None:
    async with db.transaction() as conn:
        await conn.execute(ITEMS.insert(), {"name": "a"})
        await conn.execute(sa.select(ITEMS.c.id))
    # BEGIN IMMEDIATE went with the insert; the pool got back a connection with nothing to end.
    assert trips == ["_run", "_run", "commit"]


async def test_a_read_is_its_statement_and_its_end(db: Database, trips: list[str]) -> None:
    assert await _names(db) == []
    assert trips == ["_run", "commit"]


async def test_a_read_is_one_snapshot_across_its_statements(db: Database) -> None:
    async with db.read() as conn:
        before = await conn.scalar(sa.select(sa.func.count()).select_from(ITEMS))
        async with db.transaction() as writer:  # another connection commits meanwhile
            await writer.execute(ITEMS.insert(), {"name": "meanwhile"})
        again = await conn.scalar(sa.select(sa.func.count()).select_from(ITEMS))
    assert before == again == 0
    assert await _names(db) == ["meanwhile"]


async def test_a_write_that_fails_part_way_leaves_nothing(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(ITEMS.insert(), {"name": "first"})
            await conn.execute(ITEMS.insert(), {"name": "first"})  # UNIQUE
    assert await _names(db) == []


async def test_many_rows_in_one_statement_count_and_return_as_they_did(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(ITEMS.insert(), [{"name": "a"}, {"name": "b"}, {"name": "c"}])
        renamed = await conn.execute(ITEMS.update().where(ITEMS.c.name != "b").values(name=ITEMS.c.name + "!"))
        assert renamed.rowcount == 2
        returned = await conn.execute(sa.text("INSERT INTO items (name) VALUES ('d') RETURNING id, name"))
        assert returned.one() == (4, "d")
    assert await _names(db) == ["a!", "b", "c!", "d"]


async def test_a_transaction_that_ran_nothing_leaves_its_connection_clean(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction():
            raise RuntimeError("changed its mind before any statement")
    async with db.transaction():
        pass
    async with db.read():
        pass
    # Were a BEGIN left waiting on a connection, this read would start inside it and see nothing
    # of the write below once that write commits; and the next write would fail to BEGIN.
    async with db.transaction() as conn:
        await conn.execute(ITEMS.insert(), {"name": "after"})
    assert await _names(db) == ["after"]


async def test_a_statement_sqlite_refuses_is_sqlalchemys_error_and_the_connection_goes_on(db: Database) -> None:
    with pytest.raises(OperationalError, match="no such table"):
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT * FROM nowhere"))
    assert await _names(db) == []
