"""The bench's naive inventory (bench/naive_inventory.py: lock the row, check in Python, write) is
the baseline the hold strategies are measured against: it is slower by design, but it must still
never sell a unit twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from inventory_support import NAIVE_INVENTORY, InventoryClient, burst, unique

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(services) -> Iterator[InventoryClient]:
    client = InventoryClient(services.shared("inventory", module=NAIVE_INVENTORY).url, services.admin_token)
    yield client
    client.close()


def test_a_hundred_buyers_race_for_ten_units_and_ten_win(inventory: InventoryClient) -> None:
    product = inventory.new_product(10)
    answers = burst(inventory.url, [{"productId": product, "quantity": 1}] * 100)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 10, 409: 90}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"out_of_stock"}
    assert len({a.json()["reservationId"] for a in answers if a.status_code == 200}) == 10
    stock = inventory.stock(product)
    assert (stock["available"], stock["reserved"], stock["sold"]) == (0, 10, 0)
    assert stock["available"] + stock["reserved"] + stock["sold"] == stock["received"] - stock["writtenOff"]


def test_a_multi_item_hold_takes_every_line_or_none(inventory: InventoryClient) -> None:
    plenty, scarce = inventory.new_product(5), inventory.new_product(1)
    both = {"items": [{"productId": plenty, "quantity": 2}, {"productId": scarce, "quantity": 1}]}
    assert inventory.reserve(both).status_code == 200
    refused = inventory.reserve(both)
    assert refused.status_code == 409
    assert refused.json()["code"] == "out_of_stock"
    assert inventory.counts(plenty) == (3, 2, 0)
    assert inventory.counts(scarce) == (0, 1, 0)


def test_unknown_products_and_purchase_limits_are_refused_as_by_default(inventory: InventoryClient) -> None:
    unknown = inventory.reserve({"productId": unique("nothing"), "quantity": 1})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_product"

    limited = inventory.limited_product(10, per_customer=2)
    inventory.hold(limited, 2, customerId="c-1")
    over = inventory.reserve({"productId": limited, "quantity": 1, "customerId": "c-1"})
    assert over.status_code == 409
    assert over.json()["code"] == "limit_exceeded"
    assert inventory.counts(limited) == (8, 2, 0)


def test_a_repeated_order_gets_its_first_hold(inventory: InventoryClient) -> None:
    product = inventory.new_product(10)
    order_id = unique("order")
    answers = burst(inventory.url, [{"productId": product, "quantity": 3, "orderId": order_id}] * 20)
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["reservationId"] for a in answers}) == 1
    assert inventory.counts(product) == (7, 3, 0)
