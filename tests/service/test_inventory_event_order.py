"""The order side's events, delivered out of order by a real broker, leave the right stock.

An order is confirmed before it is cancelled, never after. But a confirmation whose handling fails
(armed here as a one-off failure, as a database hiccup would be) is delivered again after later
events about the same order: the cancellation is handled first. The inventory must then refuse the
late confirmation (the order side refunds), never sell the units again from available.
In-process: a rule of one app's consumers (the armed failure raises; nothing dies).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inventory_support import InventoryClient, inventory_event_data, order_event, publish, unique, wait_for

from flashsale.kit.faults import FAULTS_DIR_ENV
from support.in_process import InProcessHouse

pytestmark = pytest.mark.service

FAILURE = "inventory.OrderConfirmed"


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where a test arms a fault point. The points read the process's environment, and the app
    runs in this one: it is set here for the module's tests only."""
    armed = tmp_path_factory.mktemp("faults")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FAULTS_DIR_ENV, str(armed))
        yield armed


@pytest.fixture
def inventory(in_process: InProcessHouse, faults: Path) -> InventoryClient:
    return InventoryClient(in_process.shared("inventory").http, in_process.admin_token)


def confirmation_fails_once_then(nats_url: str, faults: Path, order_id: str, reservation_id: str) -> None:
    """Publish the order's confirmation and then its cancellation, the first failing once."""
    (faults / FAILURE).touch()
    ids = {"orderId": order_id, "reservationId": reservation_id}
    publish(
        nats_url,
        order_event("OrderConfirmed", ids),
        order_event("OrderCancelled", {**ids, "reason": "customer_cancelled"}),
    )


def refused(inventory: InventoryClient) -> float:
    return inventory.metric("inventory_late_confirmations_refused_total")


def test_a_confirmation_retried_after_its_orders_cancellation_sells_nothing(
    inventory: InventoryClient, nats_url: str, faults: Path
) -> None:
    product, order_id = inventory.new_product(2), unique("order")
    hold = inventory.hold(product, 2, orderId=order_id)
    refused_before = refused(inventory)

    confirmation_fails_once_then(nats_url, faults, order_id, hold["reservationId"])

    told = inventory_event_data(nats_url, hold["reservationId"], {"ReservationReleased", "ReservationRejected"})
    assert not (faults / FAILURE).exists(), "the confirmation never failed"
    assert told["ReservationRejected"]["reason"] == "order_cancelled"
    assert "ReservationConfirmed" not in told
    wait_for(lambda: refused(inventory) > refused_before, what="the late confirmation to be counted")
    assert inventory.reservation(hold["reservationId"])["status"] == "RELEASED"
    assert inventory.counts(product) == (2, 0, 0)


def test_a_late_confirmation_of_an_expired_hold_is_not_retaken_once_the_order_is_cancelled(
    inventory: InventoryClient, nats_url: str, faults: Path
) -> None:
    # Paid just after the hold expired, then cancelled: the retake a late payment may have must
    # not happen once the cancellation has been handled.
    product, order_id = inventory.new_product(1), unique("order")
    hold = inventory.hold(product, 1, orderId=order_id, ttlSeconds=1)
    inventory.wait_status(hold["reservationId"], "EXPIRED")

    confirmation_fails_once_then(nats_url, faults, order_id, hold["reservationId"])

    told = inventory_event_data(nats_url, hold["reservationId"], {"ReservationRejected"})
    assert told["ReservationRejected"]["reason"] == "order_cancelled"
    assert "ReservationConfirmed" not in told
    assert inventory.reservation(hold["reservationId"])["status"] == "EXPIRED"
    assert inventory.counts(product) == (1, 0, 0)
