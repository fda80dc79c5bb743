"""Two order-service instances on one database: a flash sale never oversells or pays twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from orders_support import Orders, start_house, unique, wait_for

from support import plain_http

pytestmark = pytest.mark.service


BUYERS = 100
UNITS = 3


async def _race(instances: list[Orders], product: str) -> list[httpx.Response]:
    """BUYERS customers press "Buy now" at once, spread over the instances."""
    limits = httpx.Limits(max_connections=BUYERS)
    async with plain_http.async_client(timeout=60, limits=limits) as client:
        return list(await asyncio.gather(*(
            client.post(f"{instances[n % len(instances)].url}/orders",
                        json={"customerId": unique("buyer"), "items": [{"productId": product, "quantity": 1}]})
            for n in range(BUYERS)
        )))


async def _pay_everywhere(instances: list[Orders], order_id: str) -> list[httpx.Response]:
    async with plain_http.async_client(timeout=60) as client:
        return list(await asyncio.gather(*(
            client.post(f"{orders.url}/orders/{order_id}/pay", json={"paymentToken": "tok_slow"})
            for orders in instances
        )))


def test_two_instances_sell_three_units_to_exactly_three_of_a_hundred_buyers(services: Any) -> None:
    house, instances = start_house(services, orders_instances=2)
    product = house.inventory.new_product(UNITS)

    answers = asyncio.run(_race(instances, product))

    assert Counter(a.status_code for a in answers) == {201: UNITS, 409: BUYERS - UNITS}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"out_of_stock"}
    created = sorted(a.json()["orderId"] for a in answers if a.status_code == 201)
    assert sorted(o["orderId"] for o in house.orders.every_order()) == created
    assert house.inventory.counts(product) == (0, UNITS, 0)


def test_an_order_paid_on_two_instances_at_once_is_charged_once(services: Any) -> None:
    house, instances = start_house(services, orders_instances=2)
    product = house.inventory.new_product(1)
    order = house.orders.placed(unique("c"), (product, 1))

    answers = asyncio.run(_pay_everywhere(instances, order["orderId"]))

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert {a.json()["status"] for a in answers} <= {"PAID", "COMPLETED"}  # the second may see it completed
    house.orders.wait_status(order["orderId"], "COMPLETED")
    assert house.ledger_kinds(order["orderId"]) == ["AUTHORISED", "CAPTURED"]
    wait_for(lambda: house.inventory.counts(product) == (0, 0, 1), what="the unit to be sold")
