"""The inventory's database out of reach (restarted, out of connection slots): holds answer a 503
problem with a code, change nothing, and work again once the database is back. PostgreSQL only:
the database a service can lose while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from inventory_support import InventoryClient, burst
from sqlalchemy.engine import make_url

from flashsale.kit.db_admin import service_database_url

pytestmark = pytest.mark.service


async def _refuse_connections(url: str, refuse: bool) -> None:
    """Stop (or start again) taking connections, and cut the ones open: the service's pool too."""
    parsed = make_url(url)
    admin = await asyncpg.connect(host=parsed.host, port=parsed.port, user=parsed.username, database="postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{parsed.database}" ALLOW_CONNECTIONS {"false" if refuse else "true"}')
        if refuse:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                                parsed.database)
    finally:
        await admin.close()


@contextmanager
def database_out_of_reach(url: str) -> Iterator[None]:
    asyncio.run(_refuse_connections(url, True))
    try:
        yield
    finally:
        asyncio.run(_refuse_connections(url, False))


@pytest.fixture
def inventory(fresh_services: Any) -> Iterator[InventoryClient]:
    client = InventoryClient(fresh_services.start("inventory").url, fresh_services.admin_token)
    yield client
    client.close()


@pytest.mark.parametrize("database_base", ["postgresql"], indirect=True)
def test_holds_asked_while_the_database_is_out_of_reach_are_503s_and_change_nothing(
    fresh_services: Any, inventory: InventoryClient,
) -> None:
    product = inventory.new_product(3)
    bodies = [{"productId": product, "quantity": 1}] * 6

    with database_out_of_reach(service_database_url(fresh_services.database_base, "inventory")):
        answers = burst(inventory.url, bodies)  # concurrent: a coalesced batch fails as a whole

    assert [answer.status_code for answer in answers] == [503] * 6
    assert {answer.json()["code"] for answer in answers} == {"database_unavailable"}
    assert {answer.headers["content-type"] for answer in answers} == {"application/problem+json"}
    assert inventory.counts(product) == (3, 0, 0)
    assert inventory.hold(product, 1)["status"] == "HELD"  # the pool connects afresh once it is back
    assert inventory.counts(product) == (2, 1, 0)
