"""Partial fulfilment: as much of each item as can be had now, refused only when nothing can.
In-process: these are rules of one app's API."""

from __future__ import annotations

from typing import Any

import pytest
from inventory_support import InventoryClient, inventory_event_data, unique

from support.in_process import InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(in_process: InProcessHouse) -> InventoryClient:
    return InventoryClient(in_process.shared("inventory").http, in_process.admin_token)


def partial(*lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
    items = [{"productId": p, "quantity": q} for p, q in lines]
    return {"items": items, "fulfilment": "partial", **extra}


def test_each_item_gets_what_is_available_and_empty_ones_are_left_out(
    inventory: InventoryClient, nats_url: str
) -> None:
    plenty, scarce, gone = inventory.new_product(10), inventory.new_product(2), inventory.new_product(1)
    inventory.hold(gone, 1)

    answer = inventory.reserve(partial((plenty, 3), (scarce, 5), (gone, 1)))

    assert answer.status_code == 200, answer.text
    hold = answer.json()
    assert sorted((i["productId"], i["quantity"]) for i in hold["items"]) == sorted([(plenty, 3), (scarce, 2)])
    assert inventory.reservation(hold["reservationId"])["items"] == hold["items"]
    assert inventory.counts(plenty) == (7, 3, 0)
    assert inventory.counts(scarce) == (0, 2, 0)
    assert inventory.counts(gone) == (0, 1, 0)
    reserved = inventory_event_data(nats_url, hold["reservationId"], {"StockReserved"})["StockReserved"]
    assert reserved["items"] == hold["items"]


def test_nothing_available_is_out_of_stock_and_holds_nothing(inventory: InventoryClient) -> None:
    empty, other = inventory.new_product(1), inventory.new_product(1)
    inventory.hold(empty, 1)
    inventory.hold(other, 1)

    refused = inventory.reserve(partial((empty, 1), (other, 2)))

    assert (refused.status_code, refused.json()["code"]) == (409, "out_of_stock")
    assert inventory.counts(empty) == (0, 1, 0)


def test_an_item_gets_no_more_than_the_customers_limit_leaves(inventory: InventoryClient) -> None:
    limited = inventory.limited_product(10, per_customer=3)
    inventory.hold(limited, 2, customerId="alice")

    hold = inventory.reserve(partial((limited, 5), customerId="alice")).json()

    assert hold["items"] == [{"productId": limited, "quantity": 1}]
    assert inventory.counts(limited) == (7, 3, 0)


def test_nothing_left_under_the_limit_is_limit_exceeded(inventory: InventoryClient) -> None:
    limited = inventory.limited_product(10, per_customer=2)
    inventory.hold(limited, 2, customerId="alice")

    refused = inventory.reserve(partial((limited, 1), customerId="alice"))

    assert (refused.status_code, refused.json()["code"]) == (409, "limit_exceeded")
    assert inventory.counts(limited) == (8, 2, 0)


def test_a_retried_partial_reserve_gets_its_first_hold(inventory: InventoryClient) -> None:
    scarce, plenty = inventory.new_product(2), inventory.new_product(5)
    body = partial((scarce, 3), (plenty, 1), orderId=unique("order"))
    first = inventory.reserve(body).json()

    again = inventory.reserve(body)  # even now that nothing of `scarce` is left

    assert (again.status_code, again.json()["reservationId"]) == (200, first["reservationId"])
    assert inventory.counts(scarce) == (0, 2, 0)
    assert inventory.counts(plenty) == (4, 1, 0)
    all_of_it = {**body, "fulfilment": "all"}  # the same order asking for every unit is another request
    refused = inventory.reserve(all_of_it)
    assert (refused.status_code, refused.json()["code"]) == (409, "order_already_reserved")


def test_a_partial_reserve_that_gets_everything_answers_an_all_retry(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    body = {"productId": product, "quantity": 2, "orderId": unique("order")}
    first = inventory.reserve({**body, "fulfilment": "partial"}).json()
    again = inventory.reserve(body)
    assert (again.status_code, again.json()["reservationId"]) == (200, first["reservationId"])
    assert inventory.counts(product) == (3, 2, 0)


def test_an_unknown_item_is_404_even_when_partial(inventory: InventoryClient) -> None:
    known = inventory.new_product(5)
    refused = inventory.reserve(partial((known, 1), (unique("missing"), 1)))
    assert (refused.status_code, refused.json()["code"]) == (404, "unknown_product")
    assert inventory.counts(known) == (5, 0, 0)
