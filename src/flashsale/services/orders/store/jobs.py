"""The schedule of periodic jobs shared by every instance: `scheduled_jobs` (its SQL).

A round of a job is claimed by moving the job's `due_at_ms` forward by its interval, with a
conditional UPDATE that only succeeds while the round is due: of the instances asking at the
same time exactly one wins and runs it; the others find it claimed until the next interval.
An instance that dies mid-round loses that round only: the next one is due an interval later.
One paused mid-round may finish it while the next round runs: a round's writes must be safe to
repeat (the contact reconciler's are compare-and-set on each contact's version).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.db import Database
from flashsale.kit.sql import database_now_ms, dialect_insert
from flashsale.services.orders.store.tables import scheduled_jobs


class JobSchedule:
    def __init__(self, db: Database, *, owner: str) -> None:
        self.db = db
        self.owner = owner

    async def claim(self, job: str, interval_ms: int) -> bool:
        """True when this instance won the job's round that is due now."""
        async with self.db.transaction() as conn:
            now = database_now_ms(conn)  # every instance reads one clock: no round is run early
            await _ensure_txn(conn, job)
            result = await conn.execute(
                scheduled_jobs.update()
                .where(scheduled_jobs.c.name == job, scheduled_jobs.c.due_at_ms <= now)
                .values(holder=self.owner, due_at_ms=now + interval_ms)
            )
        return bool(result.rowcount == 1)


async def _ensure_txn(conn: AsyncConnection, job: str) -> None:
    """A job seen for the first time is due at once."""
    await conn.execute(
        dialect_insert(conn.dialect.name, scheduled_jobs)
        .values(name=job, holder="", due_at_ms=0).on_conflict_do_nothing()
    )
