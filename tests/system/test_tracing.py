"""One order's journey through a real house is one trace, and `flashsale trace` shows it.

The house (`flashsale up`) keeps spans under DIR/traces. An order placed on one order instance
and paid on the other: hold, authorisation, OrderConfirmed, deduction, capture, shipment,
COMPLETED and the notifications all land in the order's trace, across the services, with the
events' consumers as children of the spans that wrote the events. The metrics an operator
watches during a sale move with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from houses import SharedHouse
from prometheus_client.parser import text_string_to_metric_families

from flashsale.kit.trace_files import read_journeys
from flashsale.kit.tracing import journey_ids
from flashsale.runtime.services_file import ServicesFile
from support import plain_http
from support.ids import unique
from support.polling import wait_for

pytestmark = pytest.mark.system

T = TypeVar("T")
JOURNEY_SERVICES = {"orders", "inventory", "payments", "shipping", "notifications"}
JOURNEY_STEPS = {
    ("orders", "order.place"), ("inventory", "POST /inventory/reserve"), ("orders", "order.pay"),
    ("payments", "POST /payments"), ("orders", "publish orders.OrderConfirmed"),
    ("inventory", "consume OrderConfirmed"), ("orders", "saga.resume"), ("orders", "saga.capture"),
    ("payments", "POST /payments/{orderId}/capture"), ("shipping", "POST /shipments"),
    ("notifications", "consume OrderCompleted"),
}


@pytest.fixture(scope="module")
def house_dir(shared_house: SharedHouse) -> tuple[Path, ServicesFile]:
    return shared_house.data_dir, shared_house.services


def _buy_and_pay(services: ServicesFile) -> tuple[str, str]:
    """A product in the catalog and the stock, then an order placed on instance 1, paid on 2."""
    admin = {"Authorization": f"Bearer {services.admin_token}"}
    product = unique("p")
    listed = plain_http.put(f"{services.urls['catalog'][0]}/products/{product}", headers=admin,
                       json={"name": "Console", "priceCents": 49900})
    assert listed.status_code in (200, 201), listed.text
    stocked = plain_http.post(f"{services.urls['inventory'][0]}/inventory/{product}/receive", headers=admin,
                         json={"quantity": 3})
    assert stocked.status_code == 200, stocked.text
    placed = plain_http.post(f"{services.urls['orders'][0]}/orders", timeout=30,
                        json={"customerId": unique("c"), "items": [{"productId": product, "quantity": 1}]})
    assert placed.status_code == 201, placed.text
    order_id = str(placed.json()["orderId"])
    paid = plain_http.post(f"{services.urls['orders'][1]}/orders/{order_id}/pay", json={"paymentToken": "tok_ok"},
                      timeout=30)
    assert paid.status_code == 200, paid.text
    return order_id, product


def _status(services: ServicesFile, order_id: str) -> str:
    return str(plain_http.get(f"{services.urls['orders'][0]}/orders/{order_id}").json()["status"])


def _journey_spans(trace_dir: Path, order_id: str) -> list[dict[str, Any]]:
    """The order's spans once every process has written its part (each writes a batch a second)."""

    def complete() -> list[dict[str, Any]] | None:
        spans = read_journeys(trace_dir, "order.id", order_id, {f"{journey_ids(order_id)[0]:032x}"})
        return spans if {(s["service"], s["name"]) for s in spans} >= JOURNEY_STEPS else None

    return wait_for(complete, timeout_s=20, what=f"the spans of order {order_id}: {sorted(JOURNEY_STEPS)}")


def _ancestors(span: dict[str, Any], spans: list[dict[str, Any]]) -> list[tuple[str, str]]:
    by_id = {s["spanId"]: s for s in spans}
    chain = []
    parent = by_id.get(span.get("parentId") or "")
    while parent is not None:
        chain.append((parent["service"], parent["name"]))
        parent = by_id.get(parent.get("parentId") or "")
    return chain


def _one(spans: list[dict[str, Any]], service: str, name: str) -> dict[str, Any]:
    found = [s for s in spans if s["service"] == service and s["name"] == name]
    assert found, f"no span {service} {name!r} among {sorted({(s['service'], s['name']) for s in spans})}"
    return found[0]


def _metric(url: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(plain_http.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def _eventually(probe: Callable[[], T | None], what: str) -> T:
    return wait_for(probe, timeout_s=15, what=what)


def test_one_order_is_one_trace_across_the_services(house_dir: tuple[Path, ServicesFile]) -> None:
    data_dir, services = house_dir
    order_id, _ = _buy_and_pay(services)
    wait_for(lambda: _status(services, order_id) == "COMPLETED", timeout_s=30, what=f"order {order_id} COMPLETED")

    spans = _journey_spans(data_dir / "traces", order_id)

    tagged = [s for s in spans if s["attributes"].get("order.id") == order_id]
    assert {s["traceId"] for s in tagged} == {f"{journey_ids(order_id)[0]:032x}"}
    assert len({s["service"] for s in tagged}) >= 3
    in_trace = {s["service"] for s in spans if s["traceId"] == tagged[0]["traceId"]}
    assert in_trace >= JOURNEY_SERVICES
    # The trace context went through the outbox and the broker: the inventory deducted the stock
    # in a span under the payment that wrote OrderConfirmed, and the payment service answered
    # the order service's call inside it too.
    deduction = _one(spans, "inventory", "consume OrderConfirmed")
    assert ("orders", "publish orders.OrderConfirmed") in _ancestors(deduction, spans)
    assert ("orders", "order.pay") in _ancestors(deduction, spans)
    assert ("orders", "order.pay") in _ancestors(_one(spans, "payments", "POST /payments"), spans)
    assert ("orders", "saga.capture") in _ancestors(_one(spans, "payments", "POST /payments/{orderId}/capture"),
                                                    spans)


def test_an_expired_hold_is_a_step_of_its_orders_trace(house_dir: tuple[Path, ServicesFile]) -> None:
    data_dir, services = house_dir
    admin = {"Authorization": f"Bearer {services.admin_token}"}
    product, order_id = unique("p"), unique("o")
    inventory = services.urls["inventory"][0]
    stocked = plain_http.post(f"{inventory}/inventory/{product}/receive", headers=admin, json={"quantity": 1})
    assert stocked.status_code == 200, stocked.text
    held = plain_http.post(f"{inventory}/inventory/reserve",
                      json={"productId": product, "quantity": 1, "orderId": order_id, "ttlSeconds": 1})
    assert held.status_code == 200, held.text
    reservation = held.json()["reservationId"]
    wait_for(lambda: plain_http.get(f"{inventory}/inventory/reservations/{reservation}").json()["status"] == "EXPIRED",
             timeout_s=15, what=f"hold {reservation} EXPIRED")

    trace_id = f"{journey_ids(order_id)[0]:032x}"

    def expiry_spans() -> list[dict[str, Any]] | None:
        spans = read_journeys(data_dir / "traces", "order.id", order_id, {trace_id})
        names = {(s["service"], s["name"]) for s in spans}
        return spans if ("inventory", "publish inventory.ReservationExpired") in names else None

    spans = wait_for(expiry_spans, timeout_s=20, what=f"the expiry spans of order {order_id}")
    expiry = _one(spans, "inventory", "hold.expire")
    assert expiry["traceId"] == trace_id
    assert ("inventory", "hold.expire") in _ancestors(_one(spans, "inventory", "publish inventory.ReservationExpired"),
                                                      spans)


def test_flashsale_trace_prints_the_order_tree(house_dir: tuple[Path, ServicesFile]) -> None:
    data_dir, services = house_dir
    order_id, _ = _buy_and_pay(services)
    wait_for(lambda: _status(services, order_id) == "COMPLETED", timeout_s=30, what=f"order {order_id} COMPLETED")
    _journey_spans(data_dir / "traces", order_id)

    shown = subprocess.run(
        [sys.executable, "-m", "flashsale.cli", "trace", order_id, "--services", str(data_dir / "services.json")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert order_id in lines[0] and "inventory" in lines[0] and "payments" in lines[0], lines[0]
    assert "orders order.place" in lines[1]
    for step in ("inventory POST /inventory/reserve", "orders order.pay", "payments POST /payments",
                 "inventory consume OrderConfirmed", "orders saga.capture", "shipping POST /shipments"):
        assert any(step in line for line in lines), f"{step!r} not in\n{shown.stdout}"
    assert any("↖ for orders POST /orders 201" in line for line in lines), shown.stdout

    unknown = subprocess.run([sys.executable, "-m", "flashsale.cli", "trace", unique("none"), "--data-dir",
                              str(data_dir)], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "no spans" in unknown.stdout


def test_operators_metrics_follow_the_order(house_dir: tuple[Path, ServicesFile]) -> None:
    _, services = house_dir
    order_id, product = _buy_and_pay(services)
    wait_for(lambda: _status(services, order_id) == "COMPLETED", timeout_s=30, what=f"order {order_id} COMPLETED")
    inventory, orders = services.urls["inventory"][0], services.urls["orders"][0]

    _eventually(lambda: _metric(inventory, "inventory_stock_sold", product_id=product) == 1.0, "sold gauge at 1")
    assert _metric(inventory, "inventory_stock_available", product_id=product) == 2.0
    assert _metric(inventory, "inventory_stock_reserved", product_id=product) == 0.0
    _eventually(lambda: (_metric(orders, "orders_by_status", status="COMPLETED") or 0) >= 1, "orders by status")
    assert _metric(inventory, "consumer_pending_messages", consumer="inventory") is not None
    assert _metric(orders, "outbox_backlog") is not None
    paid_on = services.urls["orders"][1]
    latency = _metric(paid_on, "http_request_duration_seconds_count", route="/orders/{orderId}/pay", method="POST",
                      status="200")
    assert latency is not None and latency >= 1, "request latency is counted per route template"
    holds = _metric(inventory, "http_request_duration_seconds_count", route="/inventory/reserve", method="POST",
                    status="200")
    assert holds is not None and holds >= 1, "holds, answered in front of the inventory's app, are counted too"
