"""Checkout through real inventory, payments and order processes: every path ends consistent."""

from __future__ import annotations

from typing import Any

import pytest
from orders_support import Inventory, start_house, unique, wait_for

pytestmark = pytest.mark.service


# Holds that expire a second after they are taken, by the inventory's own sweep.
HOLD_TTL_S = "1"  # an unpaid order's hold runs out while the test watches


def test_a_paid_order_completes_and_its_stock_is_sold(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(5)
    customer = unique("c")

    placed = house.orders.placed(customer, (product, 2))
    paid = house.orders.pay(placed["orderId"], "tok_ok")

    assert placed["status"] == "PENDING_PAYMENT"
    assert placed["reservationId"] and placed["expiresAt"]
    assert placed["items"] == [{"productId": product, "quantity": 2, "name": None, "unitPriceCents": 49_999}]
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "PAID" and paid.json()["paidAt"]
    completed = house.orders.wait_status(placed["orderId"], "COMPLETED")
    assert completed["statusReason"] is None
    assert house.inventory.counts(product) == (3, 0, 2)
    payment = house.payment(placed["orderId"]).json()
    assert (payment["status"], payment["amountCents"]) == ("CAPTURED", 2 * 49_999)
    assert house.ledger_kinds(placed["orderId"]) == ["AUTHORISED", "CAPTURED"]
    assert [o["orderId"] for o in house.orders.of_customer(customer)] == [placed["orderId"]]


def test_without_stock_no_order_is_created(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(1)
    customer = unique("c")

    too_many = house.orders.place(customer, (product, 2))
    unknown = house.orders.place(customer, (unique("p"), 1))

    assert (too_many.status_code, too_many.json()["code"]) == (409, "out_of_stock")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_product")
    assert house.orders.of_customer(customer) == []
    assert house.inventory.counts(product) == (1, 0, 0)


def test_a_declined_or_failed_payment_cancels_the_order_and_puts_the_stock_back(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(1)
    order = house.orders.placed(unique("c"), (product, 1))
    assert house.inventory.counts(product) == (0, 1, 0)

    declined = house.orders.pay(order["orderId"], "tok_declined")

    assert (declined.status_code, declined.json()["code"]) == (402, "payment_declined")
    cancelled = house.orders.get(order["orderId"])
    assert (cancelled["status"], cancelled["statusReason"]) == ("CANCELLED", "payment_declined")
    assert house.inventory.counts(product) == (1, 0, 0)
    again = house.orders.pay(order["orderId"], "tok_ok")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    # The same card again, as a client retrying after a lost answer would: the same decline.
    retried = house.orders.pay(order["orderId"], "tok_declined")
    assert (retried.status_code, retried.json()["code"]) == (402, "payment_declined")

    # A provider that keeps failing is retried, then counts as a decline.
    failing = house.orders.placed(unique("c"), (product, 1))
    failed = house.orders.pay(failing["orderId"], "tok_error")
    assert (failed.status_code, failed.json()["code"]) == (402, "payment_declined")
    assert house.payment(failing["orderId"]).json()["reason"] == "provider_error"
    assert house.inventory.counts(product) == (1, 0, 0)


def test_cancelling_releases_an_unpaid_hold_and_refunds_a_paid_order(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(2)
    unpaid = house.orders.placed(unique("c"), (product, 1))
    paid = house.orders.placed(unique("c"), (product, 1))

    released = house.orders.cancel(unpaid["orderId"])
    assert released.status_code == 200, released.text
    assert (released.json()["status"], released.json()["statusReason"]) == ("CANCELLED", "customer_cancelled")
    assert house.inventory.reservation_status(unpaid["reservationId"]) == "RELEASED"

    # With the inventory away the paid order cannot complete, so it is still PAID when cancelled.
    house.inventory.process.stop()
    assert house.orders.pay(paid["orderId"], "tok_ok").json()["status"] == "PAID"
    refunded = house.orders.cancel(paid["orderId"])
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["status"], refunded.json()["statusReason"]) == ("CANCELLED", "customer_cancelled")
    # Nothing was captured yet (that waits for the stock deduction): the authorisation is voided.
    assert house.payment(paid["orderId"]).json()["status"] == "VOIDED"
    assert house.ledger_kinds(paid["orderId"]) == ["AUTHORISED", "VOIDED"]

    # Back, the inventory hears OrderConfirmed then OrderCancelled and ends with the unit available.
    inventory = Inventory(services.start("inventory"), services.admin_token)  # on the same database
    wait_for(lambda: inventory.counts(product) == (2, 0, 0), what="both units to be available again")
    assert house.orders.get(paid["orderId"])["status"] == "CANCELLED"  # the late deduction changed nothing
    repeated = house.orders.cancel(unpaid["orderId"])
    assert (repeated.status_code, repeated.json()["code"]) == (409, "invalid_state")


def test_an_unpaid_order_is_cancelled_when_its_hold_expires(services: Any) -> None:
    house, _ = start_house(services, hold_ttl=HOLD_TTL_S)
    product = house.inventory.new_product(1)
    order = house.orders.placed(unique("c"), (product, 1))

    expired = house.orders.wait_status(order["orderId"], "CANCELLED")
    late = house.orders.pay(order["orderId"], "tok_ok")

    assert expired["statusReason"] == "hold_expired"
    assert (late.status_code, late.json()["code"]) == (409, "hold_expired")
    assert house.payment(order["orderId"]).status_code == 404  # nobody was charged
    assert house.inventory.counts(product) == (1, 0, 0)


def test_orders_are_refused_with_503_while_the_inventory_is_down(services: Any) -> None:
    # The hold-expiry test's house, last: this test holds nothing, and the processes it stops are
    # no other test's (a stopped shared process makes the next test start the house afresh).
    house, _ = start_house(services, hold_ttl=HOLD_TTL_S)
    customer = unique("c")
    house.inventory.process.stop()

    refused = house.orders.place(customer, (unique("p"), 1))

    assert (refused.status_code, refused.json()["code"]) == (503, "inventory_unavailable")
    assert house.orders.of_customer(customer) == []
