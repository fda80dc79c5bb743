"""The per-service database helpers against real SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from flashsale.kit.db import Database, mark_events_written
from flashsale.kit.schema import relay_lease

pytestmark = pytest.mark.service


async def test_the_database_clock_reads_epoch_milliseconds(kit_db: Database) -> None:
    before = time.time_ns() // 1_000_000
    now = await kit_db.now_ms()
    after = time.time_ns() // 1_000_000

    assert before - 5 <= now <= after + 5  # same machine: the same clock, to the millisecond


async def test_a_single_statement_commits_on_its_own_and_wakes_the_relay(kit_db: Database) -> None:
    woken: list[bool] = []
    kit_db.on_events_committed(lambda: woken.append(True))
    row = {"name": "single-statement", "holder": "", "expires_at_ms": 0}
    if kit_db.is_sqlite:
        with pytest.raises(RuntimeError):
            async with kit_db.single_statement():
                pass
        return
    async with kit_db.single_statement() as conn:
        await conn.execute(sa.insert(relay_lease).values(**row))
        mark_events_written(conn)
    async with kit_db.read() as conn:  # another connection sees it: it was committed
        assert (await conn.scalar(sa.select(sa.func.count()).where(relay_lease.c.name == row["name"]))) == 1
    assert woken == [True]


async def test_a_failed_single_statement_leaves_nothing_and_wakes_no_one(kit_db: Database) -> None:
    if kit_db.is_sqlite:
        pytest.skip("single statements are PostgreSQL's (SQLite writes take the write lock)")
    woken: list[bool] = []
    kit_db.on_events_committed(lambda: woken.append(True))
    with pytest.raises(sa.exc.IntegrityError):
        async with kit_db.single_statement() as conn:
            mark_events_written(conn)
            # Two rows, the second breaking the primary key: the statement fails whole.
            await conn.execute(sa.insert(relay_lease).values([
                {"name": "twice", "holder": "", "expires_at_ms": 0},
                {"name": "twice", "holder": "", "expires_at_ms": 0},
            ]))
    async with kit_db.read() as conn:
        assert (await conn.scalar(sa.select(sa.func.count()).where(relay_lease.c.name == "twice"))) == 0
    assert woken == []
