"""Reconciliation of the catalog's availability read model with the inventory's stock: drift injected
on purpose (corrupt rows, lost events) is all found and repaired, and a round run while holds flow
never overwrites a newer level nor makes an event count twice."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from reconcile_support import CatalogFaults, Stockroom, inventory_events_about

from flashsale.runtime.process import ServiceProcess
from support import plain_http
from support.ids import unique
from support.polling import wait_for

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def inventory(house: Any) -> ServiceProcess:
    return house.shared("inventory")


@pytest.fixture(scope="module")
def catalog(house: Any, inventory: ServiceProcess) -> ServiceProcess:
    """A catalog of this module's own (tests stop and start it), reconciled on demand only."""
    return house.start("catalog", inventory_urls=inventory.url,
                       reconcile_interval_s="3600", reconcile_settle_s="2")


@pytest.fixture
def room(inventory: ServiceProcess, catalog: ServiceProcess, admin_token: str) -> Iterator[Stockroom]:
    if not catalog.is_running():
        catalog.start().wait_healthy()
    stockroom = Stockroom(inventory.url, catalog.url, admin_token)
    yield stockroom
    stockroom.close()


@pytest.fixture
def faults(house: Any) -> CatalogFaults:
    return CatalogFaults(house.database_base)


def _stocked(room: Stockroom, count: int, quantity: int = 20) -> list[str]:
    products = [unique("rp") for _ in range(count)]
    for product_id in products:
        room.receive(product_id, quantity)
        room.listed(product_id)
    room.wait_until_agree(*products)
    return products


def test_every_injected_drift_is_found_and_repaired_once(
    room: Stockroom, faults: CatalogFaults, catalog: ServiceProcess, house: Any
) -> None:
    corrupt, forgotten, zeroed, lost_holds, lost_write_off, healthy = _stocked(room, 6)
    room.reconcile_until_settled()  # whatever earlier tests left: this test counts its own drift

    # Rows corrupted in place, and one lost.
    faults.set_available(corrupt, 777)
    faults.forget(forgotten)
    faults.set_available(zeroed, 0)
    # Events the catalog never applies: while it is down, the inventory moves stock, and the
    # catalog's inbox is made to claim those events were handled (lost on the way, in effect).
    catalog.stop()
    held = [room.reserve(lost_holds, 3), room.reserve(lost_holds, 2)]
    room.adjust(lost_write_off, -4)
    dropped = inventory_events_about(house.database_base, lost_holds)[1:]  # the two holds, not the receipt
    dropped += inventory_events_about(house.database_base, lost_write_off)[1:]
    assert len(dropped) == 3 and all(held)
    faults.mark_handled(dropped)
    catalog.start().wait_healthy()

    assert room.availability(corrupt)["available"] == 777
    assert room.availability(forgotten)["status"] == "unknown"
    assert room.availability(zeroed)["status"] == "sold_out"
    assert room.availability(lost_holds)["available"] == 20  # the holds never arrived
    assert room.availability(lost_write_off)["available"] == 20

    done = room.reconcile()

    assert done == {"processed": room.product_count(), "fixed": 5, "deferred": 0}
    for product_id, available in [(corrupt, 20), (forgotten, 20), (zeroed, 20), (lost_holds, 15),
                                  (lost_write_off, 16), (healthy, 20)]:
        seen = room.availability(product_id)
        assert (seen["available"], seen["status"]) == (available, "in_stock"), product_id
        assert seen["asOf"] is not None
    assert room.reconcile()["fixed"] == 0  # repaired for good: a second round finds nothing

    # Events keep applying on top of a repaired level, exactly once.
    room.release(str(held[0]))
    room.wait_until_agree(lost_holds)
    assert room.availability(lost_holds)["available"] == 18


def test_a_round_while_holds_flow_repairs_only_real_drift_and_the_model_ends_equal_to_the_source(
    room: Stockroom, faults: CatalogFaults
) -> None:
    hot = _stocked(room, 3, quantity=40)
    room.reconcile_until_settled()
    faults.set_available(hot[0], 999)  # the one real drift
    stop = threading.Event()
    errors: list[BaseException] = []

    def shoppers(seed: int) -> None:
        rng, holds = random.Random(seed), list[str]()
        try:
            while not stop.is_set():
                if holds and rng.random() < 0.45:
                    room.release(holds.pop(rng.randrange(len(holds))))
                elif (held := room.reserve(rng.choice(hot), rng.randint(1, 3))) is not None:
                    holds.append(held)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's own thread below
            errors.append(exc)

    threads = [threading.Thread(target=shoppers, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    fixed_during_flow, rounds, deadline = 0, 0, time.monotonic() + 6
    try:
        while time.monotonic() < deadline:
            fixed_during_flow += room.reconcile()["fixed"]
            rounds += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    assert rounds >= 2

    # Quiet now: the levels nobody corrupted agree with the inventory through their events alone,
    # so no round during the flow rolled back an event or applied one twice.
    room.wait_until_agree(hot[1], hot[2])
    fixed_after = room.reconcile_until_settled()["fixed"]
    assert fixed_during_flow + fixed_after == 1
    room.wait_until_agree(*hot, timeout_s=5)


def test_reconcile_is_admin_only_and_says_when_the_inventory_is_unknown(
    room: Stockroom, house: Any, admin_token: str
) -> None:
    assert room.catalog.post("/catalog/reconcile").status_code == 401
    assert room.catalog.post("/catalog/reconcile", headers={"Authorization": "Bearer nope"}).status_code == 403
    alone = house.start("catalog", instance="2")  # no FLASHSALE_INVENTORY_URLS
    try:
        answer = plain_http.post(f"{alone.url}/catalog/reconcile", headers={"Authorization": f"Bearer {admin_token}"})
    finally:
        alone.stop()
    assert answer.status_code == 503
    assert answer.json()["code"] == "inventory_unavailable"


def test_levels_the_catalog_never_heard_of_are_filled_in(room: Stockroom, faults: CatalogFaults) -> None:
    product_id = _stocked(room, 1)[0]
    room.reconcile_until_settled()
    faults.forget(product_id)

    done = room.reconcile()

    assert done["fixed"] == 1
    wait_for(lambda: room.availability(product_id)["available"] == 20, timeout_s=5, what="the level filled in")
