"""Group commit of a store's independent writes, against real SQLite and PostgreSQL: writes that
arrive together commit in one transaction, each answered once it has committed, and a write that
fails fails alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa

from flashsale.kit.db import Database
from flashsale.kit.grouped_writes import GroupedWrites
from flashsale.kit.inbox import record_txn
from flashsale.kit.schema import inbox
from flashsale.kit.unit_of_work import UnitOfWork

pytestmark = pytest.mark.service


async def _recorded(db: Database, consumer: str) -> set[str]:
    async with db.read() as conn:
        return set(await conn.scalars(sa.select(inbox.c.message_id).where(inbox.c.consumer == consumer)))


async def test_writes_that_arrive_together_commit_together_and_each_is_answered(kit_db: Database) -> None:
    writes, consumer = GroupedWrites(kit_db), f"grouped-{uuid.uuid4().hex[:8]}"
    transactions: list[int] = []

    def write(n: int) -> Callable[[UnitOfWork], Awaitable[str]]:
        async def work(uow: UnitOfWork) -> str:
            transactions.append(id(uow))
            await record_txn(uow.conn, consumer, f"m-{n}", 0)
            return f"m-{n}"
        return work

    answers = await asyncio.gather(*(writes.run(write(n), one_statement=True) for n in range(30)))

    assert answers == [f"m-{n}" for n in range(30)]
    assert await _recorded(kit_db, consumer) == set(answers)
    assert len(set(transactions)) < 30  # the first alone, the rest in groups that formed while it committed


async def test_a_write_that_fails_in_a_group_fails_alone_and_leaves_nothing(kit_db: Database) -> None:
    writes, consumer = GroupedWrites(kit_db), f"grouped-{uuid.uuid4().hex[:8]}"

    def write(n: int) -> Callable[[UnitOfWork], Awaitable[str]]:
        async def work(uow: UnitOfWork) -> str:
            await record_txn(uow.conn, consumer, f"m-{n}", 0)
            if n == 7:
                raise ValueError("refused by a rule")
            return f"m-{n}"
        return work

    outcomes = await asyncio.gather(*(writes.run(write(n)) for n in range(20)), return_exceptions=True)

    assert [type(o).__name__ for o in outcomes] == ["str"] * 7 + ["ValueError"] + ["str"] * 12
    assert await _recorded(kit_db, consumer) == {f"m-{n}" for n in range(20) if n != 7}
