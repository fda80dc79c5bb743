"""The gateway sheds what the house cannot take: past its buy attempts in flight, an attempt is
answered at once with 503 overloaded and Retry-After (and counted); every attempt it admitted gets
the order service's real answer, and each placed order holds its unit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from gateway_support import (
    Gateway,
    backends,
    bearer,
    gateway_env,
    mint,
    module_database_base,  # noqa: F401 - a fixture: SQLite only, it says why
)

from support import plain_http
from support.ids import unique

pytestmark = pytest.mark.service

CROWD = 30


def test_attempts_past_the_limit_are_shed_with_retry_after_and_the_admitted_are_answered(house: Any) -> None:
    wired = backends(house)
    gateway = Gateway(house.start("gateway", instance=unique("g"), **gateway_env(wired, max_buys_in_flight="1")),
                      house.admin_token)
    product_id = gateway.new_product(gateway.admin(), stock=CROWD)

    answers = asyncio.run(_crowd(gateway.url, product_id))

    statuses = [a.status_code for a in answers]
    shed = [a for a in answers if a.status_code == 503]
    assert set(statuses) <= {201, 503} and statuses.count(201) >= 1 and shed, statuses
    assert all(a.json()["code"] == "overloaded" and a.headers["retry-after"] == "1" for a in shed)
    stock = plain_http.get(f"{wired.inventory.url}/inventory/{product_id}", timeout=10).json()
    assert stock["reserved"] == statuses.count(201)
    metrics = plain_http.get(f"{gateway.url}/metrics", timeout=10).text
    assert f'gateway_refusals_total{{code="overloaded"}} {float(len(shed))}' in metrics


async def _crowd(url: str, product_id: str) -> list[httpx.Response]:
    body = {"items": [{"productId": product_id, "quantity": 1}]}
    limits = httpx.Limits(max_connections=CROWD)
    async with plain_http.async_client(base_url=url, timeout=30, limits=limits) as http:
        return await asyncio.gather(*(http.post("/api/orders", json=body, headers=bearer(mint(unique("c"))))
                                      for _ in range(CROWD)))
