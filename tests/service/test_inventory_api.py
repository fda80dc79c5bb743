"""The inventory service's HTTP API, served in-process, against a real database and a real NATS
(crowds of buyers reach it together, as they reach one process)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from inventory_support import InventoryClient, burst, unique

from support.in_process import InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(in_process: InProcessHouse) -> InventoryClient:
    return InventoryClient(in_process.shared("inventory", hold_ttl=120).http, in_process.admin_token)


def test_received_stock_is_held_released_and_reads_back(inventory: InventoryClient) -> None:
    product = unique("ps5")
    assert inventory.receive(product, 5) == {
        "productId": product, "available": 5, "reserved": 0, "sold": 0, "received": 5, "writtenOff": 0,
    }
    hold = inventory.hold(product, 2, customerId="c-1")
    assert hold["status"] == "HELD"
    assert hold["items"] == [{"productId": product, "quantity": 2}]
    assert inventory.counts(product) == (3, 2, 0)
    assert inventory.reservation(hold["reservationId"]) == hold

    released = inventory.release(hold["reservationId"])
    assert released.status_code == 200
    assert released.json()["status"] == "RELEASED"
    assert inventory.counts(product) == (5, 0, 0)


def test_releasing_twice_frees_the_units_once(inventory: InventoryClient) -> None:
    product = inventory.new_product(3)
    hold = inventory.hold(product, 2)
    answers = [inventory.release(hold["reservationId"]) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.json()["status"] for a in answers} == {"RELEASED"}
    assert inventory.counts(product) == (3, 0, 0)


def test_a_hold_without_ttl_lives_for_the_configured_hold_ttl(inventory: InventoryClient) -> None:
    product = inventory.new_product(1)
    before = datetime.now(UTC)
    expires = datetime.fromisoformat(inventory.hold(product)["expiresAt"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=115) < expires < before + timedelta(seconds=125)


def test_an_expired_hold_gives_its_units_back(inventory: InventoryClient) -> None:
    product = inventory.new_product(2)
    other = inventory.new_product(1)
    hold = inventory.reserve(
        {"items": [{"productId": product, "quantity": 2}, {"productId": other, "quantity": 1}], "ttlSeconds": 1}
    ).json()
    assert inventory.counts(product) == (0, 2, 0)

    expired = inventory.wait_status(hold["reservationId"], "EXPIRED")
    assert expired["items"] == hold["items"]
    assert inventory.counts(product) == (2, 0, 0)
    assert inventory.counts(other) == (1, 0, 0)
    # Releasing an expired hold is a harmless repeat: nothing more comes back.
    assert inventory.release(hold["reservationId"]).json()["status"] == "EXPIRED"
    assert inventory.counts(product) == (2, 0, 0)


def test_a_multi_item_hold_takes_every_line_or_none(inventory: InventoryClient) -> None:
    plenty, scarce = inventory.new_product(5), inventory.new_product(1)
    lines = [{"productId": plenty, "quantity": 3}, {"productId": scarce, "quantity": 2}]

    refused = inventory.reserve({"items": lines})
    assert refused.status_code == 409
    assert refused.json()["code"] == "out_of_stock"
    assert refused.json()["productId"] == scarce
    assert inventory.counts(plenty) == (5, 0, 0)
    assert inventory.counts(scarce) == (1, 0, 0)

    unknown_line = {"productId": unique("nope"), "quantity": 1}
    unknown = inventory.reserve({"items": [{"productId": plenty, "quantity": 1}, unknown_line]})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_product")
    assert inventory.counts(plenty) == (5, 0, 0)

    held = inventory.reserve({"items": [{"productId": scarce, "quantity": 1}, {"productId": plenty, "quantity": 3}]})
    assert held.status_code == 200
    assert inventory.counts(plenty) == (2, 3, 0)
    assert inventory.counts(scarce) == (0, 1, 0)


def test_a_retried_reserve_for_one_order_holds_the_stock_once(inventory: InventoryClient) -> None:
    product = inventory.new_product(2)
    order_id = unique("order")
    first = inventory.hold(product, 2, orderId=order_id)
    # Retried after a timeout, even once nothing is left: the same hold, no more stock taken.
    again = inventory.hold(product, 2, orderId=order_id)
    assert again["reservationId"] == first["reservationId"]
    assert inventory.counts(product) == (0, 2, 0)

    other_items = inventory.reserve({"productId": product, "quantity": 1, "orderId": order_id})
    assert (other_items.status_code, other_items.json()["code"]) == (409, "order_already_reserved")


def test_concurrent_reserves_for_one_order_share_one_hold(inventory: InventoryClient) -> None:
    product = inventory.new_product(10)
    order_id = unique("order")
    answers = burst(inventory.http, [{"productId": product, "quantity": 3, "orderId": order_id}] * 20)
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["reservationId"] for a in answers}) == 1
    assert inventory.counts(product) == (7, 3, 0)


def test_two_hundred_buyers_race_for_five_units_and_five_win(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    answers = burst(inventory.http, [{"productId": product, "quantity": 1}] * 200)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 5, 409: 195}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"out_of_stock"}
    assert len({a.json()["reservationId"] for a in answers if a.status_code == 200}) == 5
    assert inventory.counts(product) == (0, 5, 0)


def test_a_write_off_within_available_leaves_holds_alone(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    hold = inventory.hold(product, 3)

    assert inventory.adjust(product, -2).json() == {
        "productId": product, "available": 0, "reserved": 3, "sold": 0, "received": 5, "writtenOff": 2,
    }
    assert inventory.reservation(hold["reservationId"])["status"] == "HELD"
    assert inventory.adjust(product, 4, "found").json()["available"] == 4
    assert inventory.stock(product) == {
        "productId": product, "available": 4, "reserved": 3, "sold": 0, "received": 9, "writtenOff": 2,
    }


def test_a_write_off_of_more_than_is_on_hand_is_refused_and_changes_nothing(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    hold = inventory.hold(product, 3)
    before = inventory.stock(product)

    too_many = inventory.adjust(product, -6)

    assert (too_many.status_code, too_many.json()["code"]) == (409, "insufficient_stock")
    assert inventory.stock(product) == before
    assert inventory.reservation(hold["reservationId"])["status"] == "HELD"


def test_receiving_more_adds_to_existing_stock(inventory: InventoryClient) -> None:
    product = inventory.new_product(2)
    inventory.hold(product, 1)
    assert inventory.receive(product, 3)["available"] == 4
    assert inventory.counts(product) == (4, 1, 0)


def test_the_auditor_pages_through_stock_and_holds(inventory: InventoryClient) -> None:
    products = sorted(inventory.new_product(3) for _ in range(3))
    holds = sorted(inventory.hold(p)["reservationId"] for p in products)
    inventory.release(holds[0])

    # Other tests of this module share the database: page through all of it, in small pages.
    stock = _every_page(inventory, "/inventory", "products", {"limit": 2})
    listed = [p["productId"] for p in stock]
    assert listed == sorted(set(listed)), "pages follow each other in product order, without repeats"
    assert [p for p in listed if p in products] == products

    held = _every_page(inventory, "/inventory/reservations", "reservations", {"status": "HELD", "limit": 1})
    ids = [r["reservationId"] for r in held]
    assert ids == sorted(set(ids)) and {r["status"] for r in held} == {"HELD"}
    assert [r for r in ids if r in holds] == holds[1:]


def _every_page(inventory: InventoryClient, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = inventory.http.get(path, params=params, headers=inventory.admin).json()
        rows += page[key]
        if page["next"] is None:
            return rows
        params = {**params, "after": page["next"]}


def test_listings_are_for_admins_only(inventory: InventoryClient) -> None:
    for path in ("/inventory", "/inventory/reservations"):
        assert inventory.http.get(path).status_code == 401
        assert inventory.http.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_stock_gauge_follows_holds(inventory: InventoryClient) -> None:
    product = inventory.new_product(4)
    granted = inventory.metric("inventory_holds_granted_total")
    inventory.hold(product, 3)
    assert inventory.metric("inventory_stock_available", product_id=product) == 1
    assert inventory.metric("inventory_holds_granted_total") >= granted + 1
