"""Every consumer measures how long an event took to reach its copy, and says so when it was slow.

The measurement lives in the kit's inbox, so services get it without code of their own: two of
them (the catalog on the inventory's real events, the notifications on the order service's) show
it here as real processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notifications_support import NotificationsClient, completed, publish
from reconcile_support import Stockroom, inventory_events_about

from flashsale.kit.clock import SystemClock, iso_from_ms
from flashsale.runtime.process import ServiceProcess
from support.ids import unique
from support.metrics import page_of, sample
from support.polling import wait_for

pytestmark = pytest.mark.service


def _observations(url: str, consumer: str, event_type: str) -> float:
    return sample(page_of(url), "event_propagation_seconds_count", consumer=consumer, type=event_type)


def _warnings(log_file: Path | None) -> list[dict[str, Any]]:
    assert log_file is not None
    found = []
    for line in log_file.read_text(errors="replace").splitlines():
        if '"slow_propagation"' in line:
            found.append(json.loads(line))
    return found


@pytest.fixture(scope="module")
def inventory(house: Any) -> ServiceProcess:
    return house.shared("inventory")


@pytest.fixture
def catalog(house: Any) -> ServiceProcess:
    return house.shared("catalog", propagation_warn_ms="1")  # any real hop is slower


@pytest.fixture
def room(inventory: ServiceProcess, catalog: ServiceProcess, admin_token: str) -> Iterator[Stockroom]:
    stockroom = Stockroom(inventory.url, catalog.url, admin_token)
    yield stockroom
    stockroom.close()


def test_the_catalog_records_each_applied_event_and_warns_above_its_threshold(
    room: Stockroom, catalog: ServiceProcess, house: Any
) -> None:
    before = _observations(catalog.url, "catalog", "StockReceived")
    product_id = unique("prop")

    room.receive(product_id, 5)
    room.listed(product_id)
    room.wait_until_agree(product_id)

    # Other test modules' inventories publish on the same broker, and this catalog hears them too:
    # at least this event was measured, and the warning below names it by id.
    assert _observations(catalog.url, "catalog", "StockReceived") >= before + 1
    [event_id] = inventory_events_about(house.database_base, product_id)
    warned = wait_for(lambda: [w for w in _warnings(catalog.log_file) if w["event_id"] == event_id],
                      timeout_s=10, what="the slow_propagation warning")
    assert warned[0]["consumer"] == "catalog"
    assert warned[0]["type"] == "StockReceived"
    assert warned[0]["level"] == "warning"
    assert 0.001 < warned[0]["seconds"] < 30


def test_an_event_that_arrives_late_is_measured_late_and_logged_at_the_default_threshold(
    house: Any, nats_url: str
) -> None:
    process = house.shared("notifications")  # the default threshold: 2 s
    client = NotificationsClient(process.url, process.log_file)
    before = _observations(process.url, "notifications", "OrderCompleted")
    order_id, customer_id = unique("o"), unique("c")
    # Happened 5 s ago (a relay that was down, a consumer far behind): it reaches the copy late.
    late = completed(order_id, customer_id).model_copy(update={"time": iso_from_ms(SystemClock().now_ms() - 5000)})

    publish(nats_url, late)
    client.wait_for_messages(orderId=order_id)

    # Earlier modules' events may still be arriving on the session's broker: at least this one.
    assert _observations(process.url, "notifications", "OrderCompleted") >= before + 1
    warned = wait_for(lambda: [w for w in _warnings(process.log_file) if w["event_id"] == late.id],
                      timeout_s=10, what="the slow_propagation warning")
    assert warned[0]["consumer"] == "notifications"
    assert 5 <= warned[0]["seconds"] < 60
    client.close()
