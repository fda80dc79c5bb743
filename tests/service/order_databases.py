"""The order database opened as several order instances open it (an engine and a pool each), and
PostgreSQL's own view of a session waiting for a row lock: for tests that force two transactions
to interleave."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa

from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.migrations import upgrade
from flashsale.services.orders.app import MIGRATIONS


@asynccontextmanager
async def order_instances(database_base: str, count: int = 2) -> AsyncIterator[list[Database]]:
    url = service_database_url(database_base, "orders")
    opened = [await Database.connect(url, producer="orders") for _ in range(count)]
    await upgrade(opened[0], MIGRATIONS)
    try:
        yield opened
    finally:
        for db in opened:
            await db.dispose()


async def waiting_for_a_lock(db: Database, what: str, timeout_s: float = 10.0) -> None:
    """Until some session of `db`'s database waits for a lock (pg_stat_activity says so)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with db.read() as conn:
            found = await conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        if found:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} never waited for the saga's row lock")
