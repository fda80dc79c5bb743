"""Writing off units that are already held or sold: whole reservations are revoked, newest first.

The policy (domain.py): holds first, newest created first, then deductions, newest confirmed
first, until enough units are available; each revoked reservation gives every unit back and the
order side hears ReservationRevoked. Later facts about a revoked reservation change nothing.
In-process: these are rules of one app's API and consumers, a crowd's requests reaching it together.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx
import pytest
from inventory_support import (
    InventoryClient,
    events_until,
    inventory_event_data,
    order_event,
    publish,
    unique,
    wait_for,
)

from support.in_process import InProcessClient, InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(in_process: InProcessHouse) -> InventoryClient:
    return InventoryClient(in_process.shared("inventory").http, in_process.admin_token)


def ordered_hold(inventory: InventoryClient, product: str, quantity: int) -> dict[str, Any]:
    """A hold for a new order of a new customer (the answer, plus the customerId asked with)."""
    customer_id = unique("c")
    return {**inventory.hold(product, quantity, orderId=unique("order"), customerId=customer_id),
            "customerId": customer_id}


def confirm(inventory: InventoryClient, nats_url: str, hold: dict[str, Any]) -> None:
    ids = {"orderId": hold["orderId"], "reservationId": hold["reservationId"]}
    publish(nats_url, order_event("OrderConfirmed", ids))
    inventory.wait_status(hold["reservationId"], "CONFIRMED")


def handled(inventory: InventoryClient, event_type: str, data: dict[str, Any], nats_url: str) -> None:
    """Publish an order event and wait until the inventory's consumer has handled it."""
    before = inventory.applied(event_type)
    publish(nats_url, order_event(event_type, data))
    wait_for(lambda: inventory.applied(event_type) > before, what=f"{event_type} to be handled")


def test_a_write_off_revokes_the_newest_hold_first(inventory: InventoryClient, nats_url: str) -> None:
    product = inventory.new_product(5)
    older, newer = ordered_hold(inventory, product, 2), ordered_hold(inventory, product, 2)

    adjusted = inventory.adjust(product, -2, "water damage")

    assert adjusted.status_code == 200, adjusted.text
    assert adjusted.json() == {
        "productId": product, "available": 1, "reserved": 2, "sold": 0, "received": 5, "writtenOff": 2,
    }
    assert inventory.reservation(newer["reservationId"])["status"] == "REVOKED"
    assert inventory.reservation(older["reservationId"])["status"] == "HELD"
    revoked = inventory_event_data(nats_url, newer["reservationId"], {"ReservationRevoked"})["ReservationRevoked"]
    assert revoked == {
        "reservationId": newer["reservationId"], "orderId": newer["orderId"],
        "customerId": newer["customerId"], "items": newer["items"], "stage": "HELD", "reason": "water damage",
    }


def test_sold_units_are_revoked_after_every_hold_newest_sale_first(inventory: InventoryClient, nats_url: str) -> None:
    product = inventory.new_product(4)
    first_sale, last_sale = ordered_hold(inventory, product, 2), ordered_hold(inventory, product, 1)
    confirm(inventory, nats_url, first_sale)
    confirm(inventory, nats_url, last_sale)
    hold = ordered_hold(inventory, product, 1)
    assert inventory.counts(product) == (0, 1, 3)

    adjusted = inventory.adjust(product, -2, "recount")

    assert adjusted.json() == {
        "productId": product, "available": 0, "reserved": 0, "sold": 2, "received": 4, "writtenOff": 2,
    }
    assert inventory.reservation(hold["reservationId"])["status"] == "REVOKED"
    assert inventory.reservation(last_sale["reservationId"])["status"] == "REVOKED"
    assert inventory.reservation(first_sale["reservationId"])["status"] == "CONFIRMED"
    sale = inventory_event_data(nats_url, last_sale["reservationId"], {"ReservationRevoked"})["ReservationRevoked"]
    assert (sale["stage"], sale["reason"], sale["items"]) == ("CONFIRMED", "recount", last_sale["items"])
    held = inventory_event_data(nats_url, hold["reservationId"], {"ReservationRevoked"})["ReservationRevoked"]
    assert held["stage"] == "HELD"


def test_a_revoked_order_gives_back_every_product_in_it(inventory: InventoryClient, nats_url: str) -> None:
    lost, other = inventory.new_product(1), inventory.new_product(3)
    lines = [{"productId": lost, "quantity": 1}, {"productId": other, "quantity": 2}]
    order_id = unique("order")
    hold = inventory.reserve({"items": lines, "orderId": order_id}).json()
    confirm(inventory, nats_url, {**hold, "orderId": order_id})

    inventory.adjust(lost, -1)

    assert inventory.counts(lost) == (0, 0, 0)
    assert inventory.counts(other) == (3, 0, 0)
    assert inventory.stock(lost)["writtenOff"] == 1


def test_later_facts_about_a_revoked_hold_change_nothing(inventory: InventoryClient, nats_url: str) -> None:
    product = inventory.new_product(3)
    hold = ordered_hold(inventory, product, 2)
    inventory.adjust(product, -2)
    after = inventory.stock(product)
    assert (after["available"], after["reserved"], after["sold"]) == (1, 0, 0)
    ids = {"orderId": hold["orderId"], "reservationId": hold["reservationId"]}

    # The order was paid just before the units were lost: no retake, no rejection; the order side
    # is already cancelling on ReservationRevoked.
    handled(inventory, "OrderConfirmed", ids, nats_url)
    handled(inventory, "OrderCancelled", {**ids, "reason": "stock_unavailable", "refunded": True}, nats_url)
    released = inventory.release(hold["reservationId"])

    assert (released.status_code, released.json()["status"]) == (200, "REVOKED")
    assert inventory.stock(product) == after
    assert inventory.reservation(hold["reservationId"])["status"] == "REVOKED"
    # Events leave in outbox order: once a later marker is out, anything the facts caused is too.
    inventory.receive(product, 1)  # the marker: the product's second StockReceived (new_product made the first)
    published = events_until(nats_url, lambda read: sum(
        e.type == "StockReceived" and e.data["productId"] == product for e in read
    ) == 2)
    about = [e.type for e in published if e.data.get("reservationId") == hold["reservationId"]]
    assert about == ["StockReserved", "ReservationRevoked"]


def test_a_later_cancellation_of_a_revoked_sale_credits_nothing_twice(
    inventory: InventoryClient, nats_url: str
) -> None:
    product = inventory.new_product(2)
    sale = ordered_hold(inventory, product, 2)
    confirm(inventory, nats_url, sale)
    inventory.adjust(product, -1)
    after = inventory.stock(product)
    assert (after["available"], after["reserved"], after["sold"], after["writtenOff"]) == (1, 0, 0, 1)

    cancelled = {"orderId": sale["orderId"], "reservationId": sale["reservationId"], "reason": "stock_unavailable"}
    handled(inventory, "OrderCancelled", cancelled, nats_url)

    assert inventory.stock(product) == after
    assert inventory.reservation(sale["reservationId"])["status"] == "REVOKED"


def test_a_revoked_customer_may_buy_up_to_the_limit_again(inventory: InventoryClient) -> None:
    product = inventory.limited_product(4, per_customer=2)
    inventory.hold(product, 2, customerId="alice")
    inventory.hold(product, 2, customerId="bob")  # the newest: revoked first

    inventory.adjust(product, -1)

    assert inventory.counts(product) == (1, 2, 0)
    refused = inventory.reserve({"productId": product, "quantity": 1, "customerId": "alice"})
    assert (refused.status_code, refused.json()["code"]) == (409, "limit_exceeded")
    assert inventory.hold(product, 1, customerId="bob")["status"] == "HELD"


def test_write_offs_racing_holds_and_releases_keep_the_books(inventory: InventoryClient) -> None:
    products = sorted(inventory.new_product(30) for _ in range(3))
    holds = [inventory.hold(p, 2, customerId=unique("c")) for p in products for _ in range(5)]
    answers = _race(inventory, products, holds)

    assert all(a.status_code < 500 for a in answers), [a.text for a in answers if a.status_code >= 500]
    assert Counter(a.status_code for a in answers).keys() <= {200, 409}
    listed = inventory.http.get("/inventory/reservations", params={"limit": 1000}, headers=inventory.admin).json()
    assert any(r["status"] == "REVOKED" for r in listed["reservations"])
    for product in products:
        stock = inventory.stock(product)
        assert stock["writtenOff"] == 28
        assert stock["available"] + stock["reserved"] + stock["sold"] == stock["received"] - stock["writtenOff"]
        held = sum(
            i["quantity"] for r in listed["reservations"] if r["status"] == "HELD"
            for i in r["items"] if i["productId"] == product
        )
        assert stock["reserved"] == held, (product, stock)


def _race(inventory: InventoryClient, products: list[str], holds: list[dict[str, Any]]) -> list[httpx.Response]:
    rng = random.Random(7)
    client = inventory.http
    assert isinstance(client, InProcessClient)

    def post(path: str, body: Any = None) -> httpx.Request:
        return client.build_request("POST", path, json=body, headers=inventory.admin)

    calls = [post(f"/inventory/reservations/{h['reservationId']}/release") for h in holds[::2]]
    for _ in range(20):
        lines = [{"productId": p, "quantity": rng.randint(1, 3)} for p in rng.sample(products, 2)]
        calls.append(post("/inventory/reserve", {"items": lines}))
    for product in products:  # two write-offs of 14 of 30 units: both need held units back
        calls += [post(f"/inventory/{product}/adjust", {"delta": -14, "reason": "flood"}) for _ in range(2)]
    rng.shuffle(calls)
    return client.at_once(calls)
