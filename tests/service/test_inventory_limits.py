"""Purchase limits per customer (a flash-sale rule), against an app served in-process, a real
database and a real NATS."""

from __future__ import annotations

from collections import Counter

import pytest
from inventory_support import InventoryClient, burst, inventory_event_data, order_event, publish, unique

from support.in_process import InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(in_process: InProcessHouse) -> InventoryClient:
    return InventoryClient(in_process.shared("inventory").http, in_process.admin_token)


def test_a_limit_is_set_read_and_cleared(inventory: InventoryClient) -> None:
    product = inventory.new_product(10)
    assert inventory.limit(product).json() == {"productId": product, "perCustomer": None}

    answer = inventory.set_limit(product, 2)
    assert (answer.status_code, answer.json()) == (200, {"productId": product, "perCustomer": 2})
    assert inventory.limit(product).json() == {"productId": product, "perCustomer": 2}

    cleared = inventory.clear_limit(product)
    assert (cleared.status_code, cleared.json()) == (200, {"productId": product, "perCustomer": None})
    assert inventory.limit(product).json()["perCustomer"] is None


def test_a_customer_gets_no_more_than_the_limit_across_orders(inventory: InventoryClient) -> None:
    product = inventory.limited_product(10, per_customer=3)
    inventory.hold(product, 2, customerId="alice", orderId=unique("order"))

    over = inventory.reserve({"productId": product, "quantity": 2, "customerId": "alice", "orderId": unique("order")})

    assert (over.status_code, over.json()["code"]) == (409, "limit_exceeded")
    assert (over.json()["productId"], over.json()["perCustomer"]) == (product, 3)
    assert inventory.counts(product) == (8, 2, 0)
    inventory.hold(product, 1, customerId="alice")  # exactly up to the limit
    inventory.hold(product, 3, customerId="bob")  # another customer has a limit of their own
    assert inventory.counts(product) == (4, 6, 0)


def test_a_multi_item_hold_over_the_limit_on_one_line_takes_nothing(inventory: InventoryClient) -> None:
    free, limited = inventory.new_product(5), inventory.limited_product(5, per_customer=1)
    lines = [{"productId": free, "quantity": 2}, {"productId": limited, "quantity": 2}]

    refused = inventory.reserve({"items": lines, "customerId": "alice"})

    assert (refused.status_code, refused.json()["code"]) == (409, "limit_exceeded")
    assert inventory.counts(free) == (5, 0, 0)
    assert inventory.counts(limited) == (5, 0, 0)


def test_a_hold_without_customer_of_a_limited_product_is_refused(inventory: InventoryClient) -> None:
    free, limited = inventory.new_product(5), inventory.limited_product(5, per_customer=2)

    for body in (
        {"productId": limited, "quantity": 1},
        {"items": [{"productId": free, "quantity": 1}, {"productId": limited, "quantity": 1}]},
        {"productId": limited, "quantity": 1, "fulfilment": "partial"},
    ):
        refused = inventory.reserve(body)
        assert (refused.status_code, refused.json()["code"]) == (422, "customer_required"), body
    assert inventory.counts(free) == (5, 0, 0)
    assert inventory.counts(limited) == (5, 0, 0)
    inventory.hold(free, 1)  # products without a limit need no customer


def test_units_come_back_to_the_customer_when_a_hold_ends(inventory: InventoryClient, nats_url: str) -> None:
    product = inventory.limited_product(10, per_customer=2)
    released = inventory.hold(product, 2, customerId="alice")
    inventory.release(released["reservationId"])
    expiring = inventory.hold(product, 2, customerId="alice", ttlSeconds=1)
    inventory.wait_status(expiring["reservationId"], "EXPIRED")
    order_id = unique("order")
    cancelled = inventory.hold(product, 2, customerId="alice", orderId=order_id)
    publish(nats_url, order_event("OrderCancelled", {
        "orderId": order_id, "reservationId": cancelled["reservationId"], "reason": "customer_cancelled",
    }))
    inventory.wait_status(cancelled["reservationId"], "RELEASED")

    inventory.hold(product, 2, customerId="alice")  # all of it is hers to take again
    assert inventory.counts(product) == (8, 2, 0)


def test_bought_units_count_until_the_order_is_cancelled(inventory: InventoryClient, nats_url: str) -> None:
    product = inventory.limited_product(10, per_customer=2)
    order_id = unique("order")
    hold = inventory.hold(product, 2, customerId="alice", orderId=order_id)
    publish(nats_url, order_event("OrderConfirmed", {"orderId": order_id, "reservationId": hold["reservationId"]}))
    inventory.wait_status(hold["reservationId"], "CONFIRMED")

    again = inventory.reserve({"productId": product, "quantity": 1, "customerId": "alice"})
    assert (again.status_code, again.json()["code"]) == (409, "limit_exceeded")

    publish(nats_url, order_event("OrderCancelled", {
        "orderId": order_id, "reservationId": hold["reservationId"], "reason": "customer_cancelled",
    }))
    inventory.wait_status(hold["reservationId"], "RELEASED")
    assert inventory.hold(product, 2, customerId="alice")["status"] == "HELD"


def test_a_late_payment_past_the_limit_is_rejected(inventory: InventoryClient, nats_url: str) -> None:
    product = inventory.limited_product(10, per_customer=2)
    order_id = unique("order")
    late = inventory.hold(product, 2, customerId="alice", orderId=order_id, ttlSeconds=1)
    inventory.wait_status(late["reservationId"], "EXPIRED")
    inventory.hold(product, 2, customerId="alice")  # meanwhile she took her two units again

    publish(nats_url, order_event("OrderConfirmed", {"orderId": order_id, "reservationId": late["reservationId"]}))

    seen = inventory_event_data(nats_url, late["reservationId"], {"ReservationRejected"})
    assert seen["ReservationRejected"]["reason"] == "limit_exceeded"
    assert inventory.reservation(late["reservationId"])["status"] == "EXPIRED"
    assert inventory.counts(product) == (8, 2, 0)


def test_a_new_limit_counts_what_customers_already_hold(inventory: InventoryClient) -> None:
    product = inventory.new_product(10)
    inventory.hold(product, 2, customerId="alice")
    inventory.hold(product, 1, customerId="bob")

    inventory.set_limit(product, 2)

    refused = inventory.reserve({"productId": product, "quantity": 1, "customerId": "alice"})
    assert (refused.status_code, refused.json()["code"]) == (409, "limit_exceeded")
    inventory.hold(product, 1, customerId="bob")
    inventory.clear_limit(product)
    inventory.hold(product, 5, customerId="alice")  # no limit any more
    assert inventory.counts(product) == (1, 9, 0)


def test_a_retried_reserve_at_the_limit_gets_its_first_hold(inventory: InventoryClient) -> None:
    product = inventory.limited_product(10, per_customer=2)
    body = {"productId": product, "quantity": 2, "customerId": "alice", "orderId": unique("order")}
    first = inventory.reserve(body).json()
    again = inventory.reserve(body)
    assert (again.status_code, again.json()["reservationId"]) == (200, first["reservationId"])
    assert inventory.counts(product) == (8, 2, 0)


def test_limits_of_unknown_products_are_404(inventory: InventoryClient) -> None:
    missing = unique("missing")
    for answer in (inventory.limit(missing), inventory.set_limit(missing, 2), inventory.clear_limit(missing)):
        assert (answer.status_code, answer.json()["code"]) == (404, "unknown_product")


def test_fifty_concurrent_orders_of_one_customer_get_exactly_the_limit(inventory: InventoryClient) -> None:
    product = inventory.limited_product(100, per_customer=2)
    bodies = [
        {"productId": product, "quantity": 1, "customerId": "alice", "orderId": unique("order")} for _ in range(50)
    ]

    answers = burst(inventory.http, bodies)

    assert Counter(a.status_code for a in answers) == {200: 2, 409: 48}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"limit_exceeded"}
    assert inventory.counts(product) == (98, 2, 0)
    granted = [a.json()["reservationId"] for a in answers if a.status_code == 200]
    assert [inventory.reservation(r)["status"] for r in granted] == ["HELD", "HELD"]

