"""A write-off racing a release on PostgreSQL: neither is killed by the lock inversion.

PostgreSQL only: SQLite has one writer at a time, so there are no row locks to invert. The test
holds row locks of the inventory's own database, so it runs on databases of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from inventory_support import InventoryClient

from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from support import plain_http

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(fresh_services: Any) -> Iterator[InventoryClient]:
    client = InventoryClient(fresh_services.start("inventory").url, fresh_services.admin_token)
    yield client
    client.close()


@pytest.fixture
def inventory_database(fresh_services: Any) -> str:
    """The URL of the inventory process's own database (for a test that must hold its locks)."""
    return service_database_url(fresh_services.database_base, "inventory")


@pytest.mark.parametrize("database_base", ["postgresql"], indirect=True)
def test_a_write_off_gives_way_to_a_release_in_flight(
    inventory: InventoryClient, inventory_database: str
) -> None:
    # The classic inversion: a release locks its reservation, then the product's stock row; the
    # write-off locks the stock row, then the reservations it revokes. Neither may be killed.
    product = inventory.new_product(2)
    hold = inventory.hold(product, 2)
    adjusted, released = asyncio.run(_write_off_against_a_release(inventory, inventory_database, product, hold))
    assert released == 1
    assert adjusted.status_code == 200, adjusted.text
    assert adjusted.json()["writtenOff"] == 1
    assert inventory.reservation(hold["reservationId"])["status"] == "REVOKED"
    assert inventory.counts(product) == (1, 0, 0)


async def _write_off_against_a_release(
    inventory: InventoryClient, url: str, product: str, hold: dict[str, Any]
) -> tuple[httpx.Response, int]:
    db = await Database.connect(url)
    try:
        async with db.engine.connect() as release, release.begin():
            await release.execute(
                sa.text("SELECT 1 FROM reservations WHERE reservation_id = :r FOR UPDATE"),
                {"r": hold["reservationId"]},
            )
            async with plain_http.async_client(base_url=inventory.url, headers=inventory.admin, timeout=30) as client:
                write_off = asyncio.create_task(
                    client.post(f"/inventory/{product}/adjust", json={"delta": -1, "reason": "lost"})
                )
                await _until_a_backend_waits_for_a_lock(db)
                # Now the release wants the stock row the write-off holds: a deadlock, unless it gives way.
                moved = await release.execute(
                    sa.text("UPDATE stock SET available = available WHERE product_id = :p"), {"p": product}
                )
                await release.commit()
                return await write_off, moved.rowcount
    finally:
        await db.dispose()


async def _until_a_backend_waits_for_a_lock(db: Database, timeout_s: float = 10.0) -> None:
    waiting = sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with db.engine.connect() as conn:
            if await conn.scalar(waiting):
                return
        assert asyncio.get_running_loop().time() < deadline, "the write-off never waited for the lock"
        await asyncio.sleep(0.01)
