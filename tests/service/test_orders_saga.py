"""The checkout saga through real inventory, payments, shipping and order processes."""

from __future__ import annotations

from typing import Any

import pytest
from orders_support import House, start_house, unique, wait_for

from support import plain_http

pytestmark = pytest.mark.service


# Every test here asks for the house with shipping, the one the full checkout needs: a test that
# never reaches the shipment step is the same on it, and a second order process costs a start.


def _steps(saga: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(step["step"], step["status"], step["outcome"]) for step in saga["steps"]]


def _mark_unshippable(house: House, product: str, admin_token: str) -> None:
    assert house.shipping is not None
    answer = plain_http.put(f"{house.shipping.url}/shipping/products/{product}", json={"shippable": False},
                       headers={"Authorization": f"Bearer {admin_token}"})
    assert answer.status_code == 200, answer.text


def test_a_completed_checkout_shows_every_step_with_its_outcome(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))
    assert house.orders.pay(order["orderId"]).status_code == 200

    house.orders.wait_status(order["orderId"], "COMPLETED")

    saga = house.orders.saga(order["orderId"])
    assert saga["state"] == "COMPLETED"
    assert _steps(saga) == [
        ("hold", "DONE", "HELD"), ("payment", "DONE", "AUTHORISED"), ("stock", "DONE", "DEDUCTED"),
        ("capture", "DONE", "CAPTURED"), ("shipment", "DONE", "SCHEDULED"),
    ]
    assert all(step["kind"] == "action" and step["finishedAt"] >= step["startedAt"] for step in saga["steps"])
    assert house.shipping is not None
    shipment = plain_http.get(f"{house.shipping.url}/shipments/{order['orderId']}").json()
    assert shipment["status"] == "SCHEDULED"


def test_a_refused_shipment_refunds_releases_and_cancels_in_reverse_order(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    product = house.inventory.new_product(2)
    _mark_unshippable(house, product, services.admin_token)
    order = house.orders.placed(unique("c"), (product, 1))
    assert house.orders.pay(order["orderId"]).status_code == 200

    cancelled = house.orders.wait_status(order["orderId"], "CANCELLED")

    assert cancelled["statusReason"] == "shipment_failed"
    saga = house.orders.saga(order["orderId"])
    assert (saga["state"], saga["reason"]) == ("COMPENSATED", "shipment_failed")
    assert _steps(saga)[4:] == [
        ("shipment", "DONE", "REFUSED"), ("refund_payment", "DONE", "REFUNDED"),
        ("release_hold", "DONE", "RELEASED"), ("cancel_order", "DONE", "CANCELLED"),
    ]
    assert house.ledger_kinds(order["orderId"]) == ["AUTHORISED", "CAPTURED", "REFUNDED"]
    # The deduction is reversed when the inventory hears OrderCancelled: both units for sale again.
    wait_for(lambda: house.inventory.counts(product) == (2, 0, 0), what="the sold unit to come back")


def test_a_sold_unit_lost_in_the_warehouse_is_refunded_and_the_order_cancelled(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    product = house.inventory.new_product(1)
    order = house.orders.placed(unique("c"), (product, 1))
    assert house.orders.pay(order["orderId"]).status_code == 200
    house.orders.wait_status(order["orderId"], "COMPLETED")

    dropped = plain_http.post(f"{house.inventory.process.url}/inventory/{product}/adjust",
                         json={"delta": -1, "reason": "dropped in the warehouse"}, headers=house.inventory.admin)

    assert dropped.status_code == 200, dropped.text
    cancelled = house.orders.wait_status(order["orderId"], "CANCELLED")
    assert cancelled["statusReason"] == "stock_unavailable"
    saga = house.orders.saga(order["orderId"])
    assert _steps(saga)[5:] == [
        ("cancel_shipment", "DONE", "CANCELLED"), ("refund_payment", "DONE", "REFUNDED"),
        ("release_hold", "DONE", "RELEASED"), ("cancel_order", "DONE", "CANCELLED"),
    ]
    assert house.ledger_kinds(order["orderId"]) == ["AUTHORISED", "CAPTURED", "REFUNDED"]
    assert house.shipping is not None
    assert plain_http.get(f"{house.shipping.url}/shipments/{order['orderId']}").json()["status"] == "CANCELLED"
    assert house.inventory.reservation_status(order["reservationId"]) == "REVOKED"
    assert house.inventory.counts(product) == (0, 0, 0)  # written off, and never credited back


def test_retrying_a_saga_that_is_not_parked_is_refused(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))

    anonymous = plain_http.post(f"{house.orders.url}/orders/{order['orderId']}/saga/retry")
    retried = plain_http.post(f"{house.orders.url}/orders/{order['orderId']}/saga/retry", headers=house.orders.admin)
    unknown = plain_http.get(f"{house.orders.url}/orders/{unique('o')}/saga")

    assert anonymous.status_code == 401
    assert (retried.status_code, retried.json()["code"]) == (409, "invalid_state")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_order")


def test_the_list_of_parked_sagas_is_for_admins_and_refuses_an_unknown_state(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    url = f"{house.orders.url}/sagas"

    assert plain_http.get(url).status_code == 401
    refused = plain_http.get(url, params={"state": "STUCK"}, headers=house.orders.admin)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_request")
    too_many = plain_http.get(url, params={"limit": "100000"}, headers=house.orders.admin)
    assert (too_many.status_code, too_many.json()["code"]) == (422, "invalid_request")
    running = plain_http.get(url, params={"state": "RUNNING", "limit": "5"}, headers=house.orders.admin)
    assert running.status_code == 200 and all(s["state"] == "RUNNING" for s in running.json()["sagas"])


def test_a_partial_order_takes_what_there_is_and_charges_only_that(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    scarce, plenty, gone = (house.inventory.new_product(n) for n in (2, 10, 1))
    house.orders.placed(unique("c"), (gone, 1))
    body = {"customerId": unique("c"), "fulfilment": "partial",
            "items": [{"productId": scarce, "quantity": 5}, {"productId": plenty, "quantity": 3},
                      {"productId": gone, "quantity": 1}]}

    placed = plain_http.post(f"{house.orders.url}/orders", json=body)

    assert placed.status_code == 201, placed.text
    assert sorted((i["productId"], i["quantity"]) for i in placed.json()["items"]) == sorted(
        [(scarce, 2), (plenty, 3)])
    assert house.orders.pay(placed.json()["orderId"]).status_code == 200
    house.orders.wait_status(placed.json()["orderId"], "COMPLETED")
    payment = plain_http.get(f"{house.payments.url}/payments/{placed.json()['orderId']}")
    assert payment.json()["amountCents"] == 5 * 49_999


def test_all_or_nothing_stays_the_default(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    scarce, plenty = house.inventory.new_product(2), house.inventory.new_product(10)
    customer = unique("c")

    refused = house.orders.place(customer, (scarce, 5), (plenty, 3))

    assert (refused.status_code, refused.json()["code"]) == (409, "out_of_stock")
    assert house.orders.of_customer(customer) == []
    assert house.inventory.counts(scarce) == (2, 0, 0)


def test_a_customer_over_the_purchase_limit_gets_no_order(services: Any) -> None:
    house, _ = start_house(services, shipping=True)
    product = house.inventory.new_product(10)
    limit = plain_http.put(f"{house.inventory.process.url}/inventory/{product}/limit", json={"perCustomer": 2},
                      headers=house.inventory.admin)
    assert limit.status_code == 200, limit.text
    customer = unique("c")

    first = house.orders.place(customer, (product, 2))
    second = house.orders.place(customer, (product, 1))
    someone_else = house.orders.place(unique("c"), (product, 1))

    assert first.status_code == 201 and someone_else.status_code == 201
    assert (second.status_code, second.json()["code"]) == (409, "limit_exceeded")
    assert len(house.orders.of_customer(customer)) == 1
