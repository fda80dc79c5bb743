"""The per-service database helpers against real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.errors import DatabaseUnavailable
from flashsale.kit.schema import outbox, relay_lease
from flashsale.kit.sql import broke_a_deadlock, rerun_deadlock_victims
from flashsale.kit.statements import Statement
from flashsale.kit.unit_of_work import Announcement, announcing_cte

pytestmark = pytest.mark.service


async def test_the_database_clock_reads_epoch_milliseconds(kit_db: Database) -> None:
    before = time.time_ns() // 1_000_000
    now = await kit_db.now_ms()
    after = time.time_ns() // 1_000_000

    assert before - 5 <= now <= after + 5  # same machine: the same clock, to the millisecond


# A lease row and an announcement of it, both only when :wanted: a change that announces itself.
_LEASE_ANNOUNCED = Statement(sa.text(f"""
WITH leased AS (
    INSERT INTO relay_lease (name, holder, expires_at_ms) SELECT :name, '', 0 WHERE CAST(:wanted AS boolean)
    RETURNING name
), {announcing_cte("EXISTS (SELECT FROM leased)")}
SELECT name FROM leased
""").columns(name=sa.String))


def _leased(db: Database, name: str) -> Announcement:
    envelope = Envelope.new(source="things", type="LeaseAdded", subject=name, data={}, now_ms=SystemClock().now_ms())
    return db.announcement(envelope, aggregate_id=name)


async def _count(db: Database, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    async with db.read() as conn:  # another connection: it sees only what was committed
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0)


async def test_a_single_statement_commits_on_its_own_and_wakes_the_relay(postgres_kit_db: Database) -> None:
    kit_db = postgres_kit_db  # announcing in a CTE is PostgreSQL's (SQLite writes take the write lock)
    kit_db.producer = "things"
    woken: list[bool] = []
    kit_db.on_events_committed(lambda: woken.append(True))
    announced = _leased(kit_db, "single-statement")
    async with kit_db.single_statement() as uow:
        row = await uow.execute_announcing(_LEASE_ANNOUNCED, {"name": "single-statement", "wanted": True}, [announced])
        assert woken == []
    assert row is not None
    assert await _count(kit_db, relay_lease, relay_lease.c.name == "single-statement") == 1
    assert await _count(kit_db, outbox, outbox.c.event_id == announced.event_id) == 1
    assert woken == [True]


async def test_a_single_statement_that_changes_nothing_announces_nothing(postgres_kit_db: Database) -> None:
    kit_db = postgres_kit_db
    kit_db.producer = "things"
    woken: list[bool] = []
    kit_db.on_events_committed(lambda: woken.append(True))
    announced = _leased(kit_db, "not-wanted")
    async with kit_db.single_statement() as uow:
        row = await uow.execute_announcing(_LEASE_ANNOUNCED, {"name": "not-wanted", "wanted": False}, [announced])
    assert row is None
    assert await _count(kit_db, outbox, outbox.c.event_id == announced.event_id) == 0
    assert woken == []


async def test_a_failed_single_statement_leaves_nothing_and_wakes_no_one(postgres_kit_db: Database) -> None:
    kit_db = postgres_kit_db
    kit_db.producer = "things"
    woken: list[bool] = []
    kit_db.on_events_committed(lambda: woken.append(True))
    async with kit_db.transaction() as conn:
        await conn.execute(sa.insert(relay_lease).values(name="twice", holder="", expires_at_ms=0))
    announced = _leased(kit_db, "twice")
    with pytest.raises(sa.exc.IntegrityError):
        async with kit_db.single_statement() as uow:
            # The lease exists: the statement fails whole, its announcement with it.
            await uow.execute_announcing(_LEASE_ANNOUNCED, {"name": "twice", "wanted": True}, [announced])
    assert await _count(kit_db, outbox, outbox.c.event_id == announced.event_id) == 0
    assert woken == []


async def test_a_single_statement_announces_only_in_its_own_statement(postgres_kit_db: Database) -> None:
    """A second statement would commit apart from the change: announce is a unit of work's."""
    postgres_kit_db.producer = "things"
    event = Envelope.new(source="things", type="LeaseAdded", subject="x", data={}, now_ms=SystemClock().now_ms())
    with pytest.raises(RuntimeError):
        async with postgres_kit_db.single_statement() as uow:
            await uow.announce(event, aggregate_id="x")


async def _lock_lease(conn: AsyncConnection, name: str) -> None:
    await conn.execute(sa.select(relay_lease).where(relay_lease.c.name == name).with_for_update())


async def _lock_both(
    db: Database, names: tuple[str, str], deadlock_timeout: str, *, holding: asyncio.Event, then_after: asyncio.Event
) -> None:
    """Lock one row, say so, and once the other transaction holds its first row, lock the second."""
    async with db.transaction() as conn:
        await conn.execute(sa.text(f"SET LOCAL deadlock_timeout = '{deadlock_timeout}'"))
        await _lock_lease(conn, names[0])
        holding.set()
        await then_after.wait()
        await _lock_lease(conn, names[1])


async def _deadlock(db: Database, rerun: bool) -> tuple[list[int], BaseException | None]:
    """Two transactions lock rows a and b in opposite orders. The victim waits 10 ms before it
    looks for a deadlock, the other 10 s, so PostgreSQL always rolls the victim back."""
    async with db.transaction() as conn:
        await conn.execute(sa.insert(relay_lease).values(
            [{"name": n, "holder": "", "expires_at_ms": 0} for n in ("a", "b")]))
    attempts: list[int] = []
    victim_has_a, other_has_b = asyncio.Event(), asyncio.Event()

    async def victim() -> None:
        attempts.append(len(attempts) + 1)
        await _lock_both(db, ("a", "b"), "10ms", holding=victim_has_a, then_after=other_has_b)

    async def other() -> None:
        await _lock_both(db, ("b", "a"), "10s", holding=other_has_b, then_after=victim_has_a)

    run = rerun_deadlock_victims()(victim) if rerun else victim
    outcomes = await asyncio.gather(run(), other(), return_exceptions=True)
    assert outcomes[1] is None, outcomes[1]  # the other transaction got both rows
    return attempts, outcomes[0] if isinstance(outcomes[0], BaseException) else None


async def test_a_transaction_picked_to_break_a_deadlock_runs_again_and_commits(postgres_kit_db: Database) -> None:
    attempts, failure = await _deadlock(postgres_kit_db, rerun=True)

    assert failure is None
    assert attempts == [1, 2]


async def test_without_a_rerun_the_deadlock_victim_fails(postgres_kit_db: Database) -> None:
    attempts, failure = await _deadlock(postgres_kit_db, rerun=False)

    assert failure is not None and broke_a_deadlock(failure), failure
    assert attempts == [1]


async def test_a_database_that_takes_no_connections_is_unavailable_and_then_back(postgres_kit_db: Database) -> None:
    db, url = postgres_kit_db, postgres_kit_db.engine.url
    await db.dispose()  # no connection left open: the next one is asked of the server
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database="postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
        with pytest.raises(DatabaseUnavailable):
            async with db.read():
                pass
        with pytest.raises(DatabaseUnavailable):
            async with db.transaction():
                pass
    finally:
        await admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
        await admin.close()
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1


async def test_a_connection_lost_to_a_server_restart_is_unavailable_once_and_the_next_reconnects(
    postgres_kit_db: Database,
) -> None:
    db, url = postgres_kit_db, postgres_kit_db.engine.url
    async with db.read() as conn:  # a pooled connection, about to be cut
        await conn.execute(sa.text("SELECT 1"))
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database="postgres")
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                            url.database)
    finally:
        await admin.close()

    with pytest.raises(DatabaseUnavailable):
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT 1"))
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1


@pytest.mark.parametrize("write", ["single_statement", "unit_of_work"])
async def test_a_connection_lost_inside_a_write_is_unavailable_and_the_next_write_reconnects(
    postgres_kit_db: Database, write: str,
) -> None:
    db, url = postgres_kit_db, postgres_kit_db.engine.url
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database="postgres")
    try:
        with pytest.raises(DatabaseUnavailable):  # not the pool's PendingRollbackError over it
            async with getattr(db, write)() as uow:
                conn = uow.conn
                backend = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
                await admin.execute("SELECT pg_terminate_backend($1)", backend)
                await conn.execute(sa.insert(relay_lease).values(name=f"lost-{write}", holder="", expires_at_ms=0))
    finally:
        await admin.close()

    async with getattr(db, write)() as uow:
        await uow.conn.execute(sa.insert(relay_lease).values(name=f"after-{write}", holder="", expires_at_ms=0))
    async with db.read() as conn:
        names = set((await conn.execute(sa.select(relay_lease.c.name))).scalars())
    assert f"after-{write}" in names and f"lost-{write}" not in names


async def test_a_commit_the_database_refuses_raises_and_leaves_nothing(kit_db: Database) -> None:
    # A foreign key checked at COMMIT (deferred): every statement passes, the COMMIT does not.
    async with kit_db.transaction() as conn:
        await conn.execute(sa.text("CREATE TABLE IF NOT EXISTS deferred_parents (id INTEGER PRIMARY KEY, "
                                   "parent INTEGER REFERENCES deferred_parents (id) DEFERRABLE INITIALLY DEFERRED)"))

    with pytest.raises(sa.exc.IntegrityError):
        async with kit_db.transaction() as conn:
            await conn.execute(sa.text("INSERT INTO deferred_parents (id, parent) VALUES (1, 99)"))

    async with kit_db.transaction() as conn:  # the connection is fine for the next transaction
        await conn.execute(sa.text("INSERT INTO deferred_parents (id, parent) VALUES (2, NULL)"))
    async with kit_db.read() as conn:
        ids = list((await conn.execute(sa.text("SELECT id FROM deferred_parents ORDER BY id"))).scalars())
    assert ids == [2]


async def test_a_connection_lost_before_the_commit_is_unavailable_and_the_next_write_reconnects(
    postgres_kit_db: Database,
) -> None:
    db, url = postgres_kit_db, postgres_kit_db.engine.url
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database="postgres")
    try:
        with pytest.raises(DatabaseUnavailable):
            async with db.transaction() as conn:
                await conn.execute(sa.insert(relay_lease).values(name="lost-at-commit", holder="", expires_at_ms=0))
                backend = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
                await admin.execute("SELECT pg_terminate_backend($1)", backend)
    finally:
        await admin.close()

    async with db.transaction() as conn:
        await conn.execute(sa.insert(relay_lease).values(name="after-commit-lost", holder="", expires_at_ms=0))
    async with db.read() as conn:
        names = set((await conn.execute(sa.select(relay_lease.c.name))).scalars())
    assert "after-commit-lost" in names and "lost-at-commit" not in names
