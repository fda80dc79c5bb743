"""The catalog's availability read model follows the inventory's stock through its events.
In-process: both apps, the inventory's relay and the catalog's consumers meeting on the real NATS
(no service calls the other). Counters are read as deltas (every app in this process counts on
one registry)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from catalog_support import CatalogClient, publish, publish_twice, received, reserved

from support.ids import unique
from support.in_process import InProcessHouse
from support.polling import wait_for

pytestmark = pytest.mark.service


@pytest.fixture
def catalog(in_process: InProcessHouse) -> CatalogClient:
    return CatalogClient(in_process.shared("catalog").http, in_process.admin_token)


class Inventory:
    def __init__(self, http: httpx.Client, admin_token: str) -> None:
        self.http = http
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def receive(self, product_id: str, quantity: int) -> None:
        answer = self.http.post(f"/inventory/{product_id}/receive", json={"quantity": quantity}, headers=self.admin)
        assert answer.status_code == 200, answer.text

    def reserve(self, product_id: str, quantity: int, **extra: Any) -> str:
        answer = self.http.post("/inventory/reserve", json={"productId": product_id, "quantity": quantity, **extra})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["reservationId"])

    def release(self, reservation_id: str) -> None:
        answer = self.http.post(f"/inventory/reservations/{reservation_id}/release")
        assert answer.status_code == 200, answer.text

    def available(self, product_id: str) -> int:
        answer = self.http.get(f"/inventory/{product_id}")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["available"])


@pytest.fixture
def inventory(in_process: InProcessHouse) -> Inventory:
    return Inventory(in_process.shared("inventory").http, in_process.admin_token)


def _matches_inventory(catalog: CatalogClient, inventory: Inventory, product_id: str, status: str) -> None:
    catalog.wait_for_available(product_id, inventory.available(product_id), status)


def test_availability_follows_real_stock_through_holds_releases_and_expiry(
    catalog: CatalogClient, inventory: Inventory
) -> None:
    product_id = unique("p")
    inventory.receive(product_id, 8)
    # Stock heard of before the product is listed is kept, and shows once it is.
    catalog.create(product_id)
    _matches_inventory(catalog, inventory, product_id, "in_stock")

    held = inventory.reserve(product_id, 4)
    _matches_inventory(catalog, inventory, product_id, "low")
    assert catalog.availability(product_id)["available"] == 4

    inventory.release(held)
    _matches_inventory(catalog, inventory, product_id, "in_stock")

    inventory.reserve(product_id, 8, ttlSeconds=1)
    _matches_inventory(catalog, inventory, product_id, "sold_out")
    assert catalog.availability(product_id)["available"] == 0

    wait_for(lambda: inventory.available(product_id) == 8, what="the 1 s hold to expire")
    seen = catalog.wait_for_available(product_id, 8, "in_stock")
    assert seen["asOf"].endswith("Z")


def test_a_batch_shows_each_products_availability(catalog: CatalogClient, inventory: Inventory) -> None:
    stocked, unstocked = catalog.create()["productId"], catalog.create()["productId"]
    inventory.receive(stocked, 3)
    catalog.wait_for_available(stocked, 3, "low")

    answer = catalog.http.post("/products/batch", json={"productIds": [stocked, unstocked]}).json()

    by_id = {p["productId"]: p["availability"] for p in answer["products"]}
    assert by_id[stocked]["available"] == 3 and by_id[stocked]["status"] == "low"
    assert by_id[unstocked] == {"status": "unknown", "available": None, "asOf": None}


def test_a_duplicate_event_changes_nothing(catalog: CatalogClient, nats_url: str) -> None:
    product_id = catalog.create()["productId"]
    clamped = catalog.metric("catalog_availability_clamped_total")
    publish(nats_url, received(product_id, 10, 10))
    catalog.wait_for_available(product_id, 10, "in_stock")

    publish_twice(nats_url, reserved(product_id, 2))
    # A later event on the same stream: once it shows, both copies before it were handled.
    publish(nats_url, reserved(product_id, 1))

    catalog.wait_for_available(product_id, 7, "in_stock")
    assert catalog.metric("catalog_availability_clamped_total") == clamped


def test_drift_never_shows_negative_stock_and_is_counted(catalog: CatalogClient, nats_url: str) -> None:
    product_id = catalog.create()["productId"]
    clamped = catalog.metric("catalog_availability_clamped_total")
    publish(nats_url, received(product_id, 1, 1))
    catalog.wait_for_available(product_id, 1, "low")

    publish(nats_url, reserved(product_id, 3))

    catalog.wait_for_available(product_id, 0, "sold_out")
    assert catalog.metric("catalog_availability_clamped_total") == clamped + 1


def test_a_burst_of_facts_with_copies_among_them_moves_availability_by_exactly_the_units_held(
    catalog: CatalogClient, nats_url: str,
) -> None:
    """A crowd's holds arrive together and are applied together (one transaction per fetched
    batch): each fact counts once, in order, copies and all."""
    product_id = catalog.create()["productId"]
    publish(nats_url, received(product_id, 100, 100))
    catalog.wait_for_available(product_id, 100, "in_stock")
    burst = [reserved(product_id, 1) for _ in range(60)]
    clamped = catalog.metric("catalog_availability_clamped_total")  # this process's count so far

    publish(nats_url, *burst[:30], burst[3], *burst[30:], burst[40])  # two facts published twice...
    publish_twice(nats_url, burst[10])  # ...and one under another message id, as a replaying relay would

    catalog.wait_for_available(product_id, 40, "in_stock")
    assert catalog.metric("catalog_availability_clamped_total") == clamped
