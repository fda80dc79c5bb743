"""The inventory hears the order service's facts on the bus and announces its own. In-process: the
events go out on the real NATS and the app's own consumers and relay meet them there (two instances
handling copies of one event are processes: test_inventory_instances.py)."""

from __future__ import annotations

import asyncio

import pytest
from inventory_support import (
    InventoryClient,
    inventory_event_data,
    inventory_events,
    order_event,
    publish,
    unique,
    wait_for,
)

from flashsale.kit.deadletters import list_dead_letters
from support.in_process import InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(in_process: InProcessHouse) -> InventoryClient:
    return InventoryClient(in_process.shared("inventory").http, in_process.admin_token)


def confirmed(order_id: str, reservation_id: str) -> dict[str, str]:
    return {"orderId": order_id, "reservationId": reservation_id}


def cancelled(order_id: str, reservation_id: str) -> dict[str, str]:
    return {"orderId": order_id, "reservationId": reservation_id, "reason": "customer_cancelled"}


def test_a_paid_order_turns_its_hold_into_a_sale(inventory: InventoryClient, nats_url: str) -> None:
    product, order_id = inventory.new_product(3), unique("order")
    hold = inventory.hold(product, 2, orderId=order_id)

    publish(nats_url, order_event("OrderConfirmed", confirmed(order_id, hold["reservationId"])))

    view = inventory.wait_status(hold["reservationId"], "CONFIRMED")
    assert view["confirmedAt"] is not None
    assert inventory.counts(product) == (1, 0, 2)
    sold = inventory.release(hold["reservationId"])
    assert (sold.status_code, sold.json()["code"]) == (409, "already_confirmed")
    assert inventory.counts(product) == (1, 0, 2)


def test_a_subscriber_sees_the_hold_and_its_confirmation(inventory: InventoryClient, nats_url: str) -> None:
    product, order_id = inventory.new_product(1), unique("order")
    hold = inventory.hold(product, 1, orderId=order_id)
    publish(nats_url, order_event("OrderConfirmed", confirmed(order_id, hold["reservationId"])))

    wanted = {"StockReserved", "ReservationConfirmed"}
    assert inventory_events(nats_url, hold["reservationId"], wanted) >= wanted


def test_a_paid_order_of_several_products_turns_each_line_into_a_sale(
    inventory: InventoryClient, nats_url: str,
) -> None:
    first, second, order_id = inventory.new_product(3), inventory.new_product(2), unique("order")
    held = inventory.reserve({"items": [{"productId": first, "quantity": 2}, {"productId": second, "quantity": 1}],
                              "orderId": order_id})
    assert held.status_code == 200, held.text
    reservation_id = held.json()["reservationId"]

    publish(nats_url, order_event("OrderConfirmed", confirmed(order_id, reservation_id)))

    inventory.wait_status(reservation_id, "CONFIRMED")
    assert (inventory.counts(first), inventory.counts(second)) == ((1, 0, 2), (1, 0, 1))


def test_a_hold_taken_without_an_order_is_sold_to_the_order_that_pays_for_it(
    inventory: InventoryClient, nats_url: str,
) -> None:
    product, order_id = inventory.new_product(2), unique("order")
    hold = inventory.hold(product, 1)

    publish(nats_url, order_event("OrderConfirmed", confirmed(order_id, hold["reservationId"])))

    view = inventory.wait_status(hold["reservationId"], "CONFIRMED")
    assert view["orderId"] == order_id
    assert inventory.counts(product) == (1, 0, 1)
    told = inventory_event_data(nats_url, hold["reservationId"], {"ReservationConfirmed"})["ReservationConfirmed"]
    assert (told["orderId"], told["items"]) == (order_id, [{"productId": product, "quantity": 1}])


def test_a_confirmation_published_twice_deducts_once(inventory: InventoryClient, nats_url: str) -> None:
    product, order_id = inventory.new_product(5), unique("order")
    hold = inventory.hold(product, 2, orderId=order_id)
    event = order_event("OrderConfirmed", confirmed(order_id, hold["reservationId"]))
    labels = {"consumer": "inventory", "type": "OrderConfirmed", "outcome": "duplicate"}
    duplicates = inventory.metric("events_consumed_total", **labels)

    publish(nats_url, event, event)  # one envelope id, two stream messages

    inventory.wait_status(hold["reservationId"], "CONFIRMED")
    wait_for(lambda: inventory.metric("events_consumed_total", **labels) > duplicates,
             what="the second copy to be handled")
    assert inventory.counts(product) == (3, 0, 2)


def test_a_cancelled_order_frees_its_hold(inventory: InventoryClient, nats_url: str) -> None:
    product, order_id = inventory.new_product(2), unique("order")
    hold = inventory.hold(product, 2, orderId=order_id)

    publish(nats_url, order_event("OrderCancelled", cancelled(order_id, hold["reservationId"])))

    inventory.wait_status(hold["reservationId"], "RELEASED")
    assert inventory.counts(product) == (2, 0, 0)


def test_a_paid_order_cancelled_later_returns_its_sold_units(inventory: InventoryClient, nats_url: str) -> None:
    product, order_id = inventory.new_product(2), unique("order")
    hold = inventory.hold(product, 1, orderId=order_id)
    publish(nats_url, order_event("OrderConfirmed", confirmed(order_id, hold["reservationId"])))
    inventory.wait_status(hold["reservationId"], "CONFIRMED")

    publish(nats_url, order_event("OrderCancelled", cancelled(order_id, hold["reservationId"])))

    inventory.wait_status(hold["reservationId"], "RELEASED")
    assert inventory.counts(product) == (2, 0, 0)


def test_a_payment_after_expiry_sells_units_still_available(inventory: InventoryClient, nats_url: str) -> None:
    product, order_id = inventory.new_product(2), unique("order")
    hold = inventory.hold(product, 1, orderId=order_id, ttlSeconds=1)
    inventory.wait_status(hold["reservationId"], "EXPIRED")

    publish(nats_url, order_event("OrderConfirmed", confirmed(order_id, hold["reservationId"])))

    inventory.wait_status(hold["reservationId"], "CONFIRMED")
    assert inventory.counts(product) == (1, 0, 1)


def test_a_payment_after_the_units_went_to_someone_else_is_rejected_and_sells_nothing(
    inventory: InventoryClient, nats_url: str
) -> None:
    # "a-..." sorts first, so its unit is retaken before "b-..." fails: the retake must be undone.
    spare, scarce = unique("a"), unique("b")
    inventory.receive(spare, 2)
    inventory.receive(scarce, 1)
    order_id = unique("order")
    lines = [{"productId": spare, "quantity": 1}, {"productId": scarce, "quantity": 1}]
    late = inventory.reserve({"items": lines, "orderId": order_id, "ttlSeconds": 1}).json()
    inventory.wait_status(late["reservationId"], "EXPIRED")
    inventory.hold(scarce, 1)  # another buyer takes the last unit

    publish(nats_url, order_event("OrderConfirmed", confirmed(order_id, late["reservationId"])))

    assert inventory_events(nats_url, late["reservationId"], {"ReservationRejected"}) == {
        "StockReserved", "ReservationExpired", "ReservationRejected",
    }
    assert inventory.reservation(late["reservationId"])["status"] == "EXPIRED"
    assert inventory.counts(spare) == (2, 0, 0)
    assert inventory.counts(scarce) == (0, 1, 0)


def test_a_payment_for_an_unknown_hold_is_rejected(inventory: InventoryClient, nats_url: str) -> None:
    reservation_id = unique("missing")
    publish(nats_url, order_event("OrderConfirmed", confirmed(unique("order"), reservation_id)))
    assert inventory_events(nats_url, reservation_id, {"ReservationRejected"}) == {"ReservationRejected"}


def test_a_poison_confirmation_is_dead_lettered_while_healthy_ones_are_applied(
    inventory: InventoryClient, nats_url: str
) -> None:
    product, order_id = inventory.new_product(2), unique("order")
    hold = inventory.hold(product, 1, orderId=order_id)
    poison = order_event("OrderConfirmed", {"orderId": unique("order")})  # no reservationId: never valid

    publish(nats_url, poison, order_event("OrderConfirmed", confirmed(order_id, hold["reservationId"])))

    inventory.wait_status(hold["reservationId"], "CONFIRMED")
    letter = wait_for(
        lambda: next((d for d in asyncio.run(list_dead_letters(nats_url)) if d.event_id == poison.id), None),
        timeout_s=30, what="the poison message in the dead-letter stream",
    )
    assert (letter.consumer, letter.subject) == ("inventory", "orders.OrderConfirmed")
    assert "reservationId" in letter.error
