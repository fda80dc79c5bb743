"""The shipping service announces what it did on its own stream (SHIPPING, subjects shipping.<Type>),
and announces nothing it did not do. In-process: the app's own relay publishes to the real NATS."""

from __future__ import annotations

import pytest
from shipping_support import ShippingClient, about, items, shipping_events, unique

from support.in_process import InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def shipping(in_process: InProcessHouse) -> ShippingClient:
    return ShippingClient(in_process.shared("shipping").http, in_process.admin_token)


def test_a_schedule_and_its_cancellation_reach_the_shipping_stream(shipping: ShippingClient, nats_url: str) -> None:
    order_id, mug, tee = unique("order"), unique("mug"), unique("tee")
    shipment = shipping.schedule(order_id, items((mug, 1), (tee, 2))).json()
    shipping.cancel(order_id)

    events = [e for e in shipping_events(nats_url, about(order_id, "ShipmentCancelled"))
              if e.subject == order_id]

    assert [e.type for e in events] == ["ShipmentScheduled", "ShipmentCancelled"]
    scheduled, cancelled = events
    assert scheduled.data == {"shipmentId": shipment["shipmentId"], "orderId": order_id,
                              "items": items((mug, 1), (tee, 2))}
    assert cancelled.data == {"shipmentId": shipment["shipmentId"], "orderId": order_id,
                              "reason": "order_cancelled"}
    assert {e.source for e in events} == {"/flashsale/shipping"}
    assert {e.correlationid for e in events} == {order_id}


def test_repeats_refusals_and_tombstones_announce_nothing(shipping: ShippingClient, nats_url: str) -> None:
    blocked = unique("blocked")
    shipping.set_shippable(blocked, False)
    repeated, refused, tombstoned, marker = (unique("order") for _ in range(4))
    shipping.schedule(repeated, items((unique("p"), 1)))
    shipping.schedule(repeated, items((unique("p"), 1)))
    shipping.schedule(refused, items((blocked, 1)))
    shipping.cancel(tombstoned)
    shipping.cancel(tombstoned)
    shipping.schedule(tombstoned, items((unique("p"), 1)))
    # Committed last: once its event is read, everything written before it has been read too.
    shipping.schedule(marker, items((unique("p"), 1)))

    events = shipping_events(nats_url, about(marker, "ShipmentScheduled"))

    about_ours = [(e.type, e.subject) for e in events if e.subject in {repeated, refused, tombstoned}]
    assert about_ours == [("ShipmentScheduled", repeated)]
