"""The shipping service schedules an order's shipment once, cancels it once, and never brings a
cancelled shipment back: what the checkout saga relies on when it retries, resumes or compensates."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from shipping_support import ShippingClient, about, items, shipping_events, unique

from flashsale.kit.clock import ms_from_iso
from support import plain_http

pytestmark = pytest.mark.service


@pytest.fixture
def shipping(services: Any) -> Iterator[ShippingClient]:
    client = ShippingClient(services.shared("shipping").url, services.admin_token)
    yield client
    client.close()


def test_a_scheduled_shipment_is_read_back_and_cancelled(shipping: ShippingClient) -> None:
    order_id, mug, tee = unique("order"), unique("mug"), unique("tee")

    scheduled = shipping.schedule(order_id, items((tee, 2), (mug, 1)))

    assert scheduled.status_code == 201, scheduled.text
    view = scheduled.json()
    assert view["shipmentId"]
    assert (view["orderId"], view["status"], view["reason"]) == (order_id, "SCHEDULED", None)
    assert sorted(view["items"], key=lambda i: i["productId"]) == items((mug, 1), (tee, 2))
    assert view["createdAt"] == view["updatedAt"]
    assert shipping.get(order_id).json() == view

    cancelled = shipping.cancel(order_id)

    assert cancelled.status_code == 200, cancelled.text
    after = cancelled.json()
    assert (after["status"], after["reason"]) == ("CANCELLED", "order_cancelled")
    assert {k: after[k] for k in ("shipmentId", "orderId", "items", "createdAt")} == {
        k: view[k] for k in ("shipmentId", "orderId", "items", "createdAt")
    }
    assert ms_from_iso(after["updatedAt"]) >= ms_from_iso(view["createdAt"])
    assert shipping.get(order_id).json() == after


def test_cancelling_twice_answers_the_same_cancelled_shipment(shipping: ShippingClient) -> None:
    order_id = unique("order")
    shipping.schedule(order_id, items((unique("p"), 1)))
    first = shipping.cancel(order_id)
    again = shipping.cancel(order_id)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()


def test_scheduling_an_order_again_answers_the_stored_shipment_and_creates_nothing(
    shipping: ShippingClient,
) -> None:
    order_id, product = unique("order"), unique("p")
    scheduled_before = shipping.metric("shipping_shipments_scheduled_total")
    first = shipping.schedule(order_id, items((product, 1)))

    repeat = shipping.schedule(order_id, items((product, 1)))
    other_lines = shipping.schedule(order_id, items((unique("p"), 5)))

    assert first.status_code == 201
    assert (repeat.status_code, other_lines.status_code) == (200, 200)
    assert repeat.json() == first.json()
    assert other_lines.json() == first.json()  # idempotent per order: the stored shipment is the answer
    assert shipping.metric("shipping_shipments_scheduled_total") - scheduled_before == 1


def test_twenty_concurrent_identical_schedules_create_one_shipment_and_one_event(
    shipping: ShippingClient, nats_url: str
) -> None:
    order_id = unique("order")
    body = {"orderId": order_id, "items": items((unique("p"), 1), (unique("p"), 3))}
    scheduled_before = shipping.metric("shipping_shipments_scheduled_total")

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: plain_http.post(f"{shipping.url}/shipments", json=body, timeout=30),
                                range(20)))

    assert sorted(a.status_code for a in answers) == [200] * 19 + [201], [a.text for a in answers]
    assert len({a.json()["shipmentId"] for a in answers}) == 1
    assert shipping.metric("shipping_shipments_scheduled_total") - scheduled_before == 1
    # The cancel is committed after every schedule, so its event follows any they wrote.
    shipping.cancel(order_id)
    events = shipping_events(nats_url, about(order_id, "ShipmentCancelled"))
    mine = [e.type for e in events if e.data.get("orderId") == order_id]
    assert mine == ["ShipmentScheduled", "ShipmentCancelled"]


def test_an_order_with_an_unshippable_product_gets_no_shipment(shipping: ShippingClient) -> None:
    order_id, fine, hazardous = unique("order"), unique("p"), unique("hazmat")
    shipping.set_shippable(hazardous, False)

    refused = shipping.schedule(order_id, items((fine, 1), (hazardous, 2)))

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "unshippable"
    assert hazardous in problem["detail"] and fine not in problem["detail"]
    assert problem["productIds"] == [hazardous]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert shipping.get(order_id).status_code == 404
    # Nothing was recorded for the order: once the product may ship, the same request succeeds.
    shipping.set_shippable(hazardous, True)
    assert shipping.schedule(order_id, items((fine, 1), (hazardous, 2))).status_code == 201


def test_a_cancel_before_any_schedule_leaves_a_tombstone_that_refuses_a_late_schedule(
    shipping: ShippingClient,
) -> None:
    order_id = unique("order")

    compensated = shipping.cancel(order_id)

    assert compensated.status_code == 200, compensated.text
    tombstone = compensated.json()
    assert (tombstone["orderId"], tombstone["status"], tombstone["items"]) == (order_id, "CANCELLED", [])
    assert tombstone["reason"] == "cancelled_before_scheduling"
    assert shipping.get(order_id).json() == tombstone

    late = shipping.schedule(order_id, items((unique("p"), 1)))

    assert late.status_code == 409, late.text
    assert late.json()["code"] == "shipment_cancelled"
    assert shipping.get(order_id).json() == tombstone
    assert shipping.cancel(order_id).json() == tombstone


def test_a_cancelled_shipment_is_never_scheduled_again(shipping: ShippingClient) -> None:
    order_id, product = unique("order"), unique("p")
    shipping.schedule(order_id, items((product, 1)))
    cancelled = shipping.cancel(order_id).json()

    again = shipping.schedule(order_id, items((product, 1)))

    assert (again.status_code, again.json()["code"]) == (409, "shipment_cancelled")
    assert shipping.get(order_id).json() == cancelled


def test_a_schedule_racing_its_compensation_always_ends_cancelled(shipping: ShippingClient) -> None:
    # A saga's schedule call that times out is compensated at once; the two may reach the service
    # together. Whichever commits first, the order must end with a cancelled shipment (or tombstone).
    orders = [unique("order") for _ in range(10)]

    def race(order_id: str) -> tuple[int, int]:
        with ThreadPoolExecutor(2) as pool:
            schedule = pool.submit(shipping.schedule, order_id, items((unique("p"), 1)))
            cancel = pool.submit(shipping.cancel, order_id)
            return schedule.result().status_code, cancel.result().status_code

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(race, orders))

    for order_id, (scheduled, cancelled) in zip(orders, outcomes, strict=True):
        assert scheduled in (201, 409) and cancelled == 200, (order_id, scheduled, cancelled)
        assert shipping.get(order_id).json()["status"] == "CANCELLED"
        assert shipping.schedule(order_id, items((unique("p"), 1))).status_code == 409


def test_an_unknown_shipment_is_a_404_problem(shipping: ShippingClient) -> None:
    answer = shipping.get(unique("order"))
    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_shipment"


def test_metrics_count_what_was_committed_not_what_was_asked(shipping: ShippingClient) -> None:
    def counts() -> dict[str, float]:
        return {
            "scheduled": shipping.metric("shipping_shipments_scheduled_total"),
            "cancelled": shipping.metric("shipping_shipments_cancelled_total", kind="shipment"),
            "tombstones": shipping.metric("shipping_shipments_cancelled_total", kind="tombstone"),
            "unshippable": shipping.metric("shipping_shipments_refused_total", reason="unshippable"),
            "cancelled_refusals": shipping.metric("shipping_shipments_refused_total", reason="shipment_cancelled"),
        }

    before = counts()
    blocked = unique("blocked")
    shipping.set_shippable(blocked, False)
    shipped = unique("order")
    shipping.schedule(shipped, items((unique("p"), 1)))
    shipping.schedule(shipped, items((unique("p"), 1)))             # a repeat
    shipping.cancel(shipped)
    shipping.cancel(shipped)                                        # a repeat
    shipping.cancel(tombstoned := unique("order"))                  # a tombstone
    shipping.schedule(tombstoned, items((unique("p"), 1)))          # refused: cancelled
    shipping.schedule(unique("order"), items((blocked, 1)))         # refused: unshippable

    after = counts()
    assert {k: after[k] - before[k] for k in after} == {
        "scheduled": 1, "cancelled": 1, "tombstones": 1, "unshippable": 1, "cancelled_refusals": 1
    }
