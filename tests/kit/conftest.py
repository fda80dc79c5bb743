"""Kit tests run the kit in this process against a real database and the real NATS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa

from flashsale.kit.bus import Bus
from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.schema import metadata, relay_lease


async def create_kit_schema(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(sa.insert(relay_lease).values(name="relay", holder="", expires_at_ms=0))


@asynccontextmanager
async def kit_database(base: str) -> AsyncIterator[Database]:
    db = await Database.connect(service_database_url(base, "inventory"))
    await create_kit_schema(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def kit_db(database_base: str) -> AsyncIterator[Database]:
    async with kit_database(database_base) as db:
        yield db


@pytest.fixture
async def postgres_kit_db(postgres_database_base: str) -> AsyncIterator[Database]:
    async with kit_database(postgres_database_base) as db:
        yield db


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    bus = Bus(nats_url, name="kit-test")
    await bus.connect(attempts=20)
    try:
        yield bus
    finally:
        await bus.close()
