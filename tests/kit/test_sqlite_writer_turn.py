"""Writers of several processes on one SQLite database take turns (kit/sqlite.py `WriterTurn`): a
turn waits until its holder lets go and no longer; a waiter that gives up leaves nothing held; two
processes writing one counter at once lose no write."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import sqlalchemy as sa

from flashsale.kit.db import Database
from flashsale.kit.sqlite import WriterTurn

DEADLINE_S = 10.0


async def _eventually_done(task: asyncio.Task[None]) -> None:
    await asyncio.wait_for(asyncio.shield(task), DEADLINE_S)


async def _enter_and_leave(turn: WriterTurn, inside: asyncio.Event | None = None) -> None:
    async with turn:
        if inside is not None:
            inside.set()


async def test_a_turn_waits_for_its_holder_and_comes_once_it_lets_go(tmp_path: Path) -> None:
    holder, waiter = WriterTurn(tmp_path / "db.sqlite"), WriterTurn(tmp_path / "db.sqlite")
    inside = asyncio.Event()
    try:
        async with holder:
            waiting = asyncio.create_task(_enter_and_leave(waiter, inside))
            await asyncio.sleep(0.2)  # time for the waiter to ask (the scenario, not a synchronisation)
            assert not inside.is_set()
        await _eventually_done(waiting)
        assert inside.is_set()
    finally:
        holder.close()
        waiter.close()


async def test_a_waiter_that_gives_up_leaves_the_turn_free(tmp_path: Path) -> None:
    holder, quitter, next_one = (WriterTurn(tmp_path / "db.sqlite") for _ in range(3))
    try:
        async with holder:
            giving_up = asyncio.create_task(_enter_and_leave(quitter))
            await asyncio.sleep(0.2)
            giving_up.cancel()
        # The quitter's thread gets the turn after the holder; it must let it go for the next one.
        await _eventually_done(asyncio.create_task(_enter_and_leave(next_one)))
    finally:
        for turn in (holder, quitter, next_one):
            turn.close()


_WRITER = """
import asyncio, sys
import sqlalchemy as sa
from flashsale.kit.db import Database

async def main(url, times):
    db = await Database.connect(url)
    for _ in range(times):
        async with db.transaction() as conn:
            value = (await conn.execute(sa.text("SELECT value FROM counter"))).scalar_one()
            await asyncio.sleep(0)  # another task's turn, with the transaction open
            await conn.execute(sa.text("UPDATE counter SET value = :v"), {"v": value + 1})
    await db.dispose()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_two_processes_writing_one_counter_lose_no_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'counter.db'}"
    db = await Database.connect(url)
    try:
        async with db.transaction() as conn:
            await conn.execute(sa.text("CREATE TABLE counter (value INTEGER NOT NULL)"))
            await conn.execute(sa.text("INSERT INTO counter VALUES (0)"))
        writers = [await asyncio.create_subprocess_exec(sys.executable, "-c", _WRITER, url, "200") for _ in range(2)]
        assert await asyncio.wait_for(asyncio.gather(*(writer.wait() for writer in writers)), 60) == [0, 0]
        async with db.read() as conn:
            value = (await conn.execute(sa.text("SELECT value FROM counter"))).scalar_one()
    finally:
        await db.dispose()

    assert value == 400
