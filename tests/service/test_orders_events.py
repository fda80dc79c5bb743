"""What the inventory reports about a reservation moves the order, exactly once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from orders_support import start_house, unique, wait_for
from prometheus_client.parser import text_string_to_metric_families

from flashsale.contracts.events import ReservationRejected
from flashsale.kit.bus import Bus
from flashsale.kit.clock import SystemClock
from flashsale.kit.envelope import Envelope
from support import plain_http

pytestmark = pytest.mark.service


async def _publish_twice(nats_url: str, envelope: Envelope) -> None:
    """Publish one event twice under two message ids: the stream keeps both, a redelivery in all
    but name, so only the consumer's inbox stands between it and a double effect."""
    bus = Bus(nats_url, name=unique("test-inventory"))
    await bus.connect(attempts=20)
    try:
        await bus.ensure_stream("inventory")
        for _ in range(2):
            await bus.publish_raw(f"inventory.{envelope.type}", envelope.to_bytes(), {"Nats-Msg-Id": uuid.uuid4().hex})
    finally:
        await bus.close()


def test_a_rejected_deduction_refunds_the_paid_order_and_cancels_it_once(services: Any, nats_url: str) -> None:
    house, _ = start_house(services)
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))
    house.inventory.process.stop()  # the deduction never happens: the order stays PAID
    assert house.orders.pay(order["orderId"], "tok_ok").json()["status"] == "PAID"

    rejected = ReservationRejected(reservation_id=order["reservationId"], order_id=order["orderId"],
                                   reason="sold_elsewhere")
    envelope = Envelope.new(source="/flashsale/inventory", type="ReservationRejected",
                            subject=order["reservationId"], data=rejected.to_data(), now_ms=SystemClock().now_ms())
    asyncio.run(_publish_twice(nats_url, envelope))

    cancelled = house.orders.wait_status(order["orderId"], "CANCELLED")
    assert cancelled["statusReason"] == "stock_unavailable"
    # Nothing was captured (capture waits for the deduction): the authorisation is voided.
    assert house.payment(order["orderId"]).json()["status"] == "VOIDED"
    assert house.ledger_kinds(order["orderId"]) == ["AUTHORISED", "VOIDED"]
    wait_for(lambda: _duplicates_seen(house.orders.url, "ReservationRejected") >= 1, what="the copy to arrive")
    assert house.orders.get(order["orderId"])["updatedAt"] == cancelled["updatedAt"]  # the copy changed nothing


def _duplicates_seen(url: str, event_type: str) -> float:
    text = plain_http.get(f"{url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "events_consumed_total"
        and sample.labels == {"consumer": "orders", "type": event_type, "outcome": "duplicate"}
    )
