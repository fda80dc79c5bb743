"""Tracing and metrics of one service process (the inventory), on a real database and broker.

- A request that comes with a `traceparent` continues the caller's trace: its server span, the
  transaction inside it (every one a span: FLASHSALE_DB_SPAN_MS=0) and the relay's publish of the
  event it wrote.
- An event consumed continues the trace of the span that wrote it (the envelope's traceparent).
- With FLASHSALE_TRACING=off the events it writes carry no trace context.
- The per-product stock gauges follow holds and sales.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from inventory_support import InventoryClient, order_event, publish, unique, wait_for
from nats.js.api import ConsumerConfig, DeliverPolicy

from flashsale.kit.envelope import Envelope
from flashsale.kit.trace_files import read_journeys

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("traces")


@pytest.fixture
def inventory(house: Any, trace_dir: Path) -> Iterator[InventoryClient]:
    proc = house.shared("inventory", trace_dir=str(trace_dir), stock_gauges_interval_s="0.2", db_span_ms="0")
    client = InventoryClient(proc.url, house.admin_token)
    yield client
    client.close()


def new_context() -> tuple[str, str]:
    """A caller's trace id and span id, as another service would send them."""
    return secrets.token_hex(16), secrets.token_hex(8)


def spans_of(trace_dir: Path, trace_id: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The trace's spans by name, once every `wanted` name is among them (written a second later)."""

    def found() -> dict[str, dict[str, Any]] | None:
        spans = {s["name"]: s for s in read_journeys(trace_dir, "-", "-", {trace_id})}
        return spans if wanted <= spans.keys() else None

    return wait_for(found, timeout_s=15, what=f"spans {sorted(wanted)} of trace {trace_id}")


def test_a_hold_continues_the_callers_trace(inventory: InventoryClient, trace_dir: Path) -> None:
    product = inventory.new_product(5)
    trace_id, caller = new_context()

    held = inventory.http.post("/inventory/reserve", json={"productId": product, "quantity": 1},
                               headers={"traceparent": f"00-{trace_id}-{caller}-01"})
    assert held.status_code == 200, held.text

    spans = spans_of(trace_dir, trace_id, {"POST /inventory/reserve", "db.transaction",
                                           "publish inventory.StockReserved"})
    server = spans["POST /inventory/reserve"]
    assert (server["kind"], server["parentId"]) == ("SERVER", caller)
    assert server["attributes"]["http.route"] == "/inventory/reserve"
    assert server["attributes"]["http.response.status_code"] == 200
    assert spans["db.transaction"]["parentId"] == server["spanId"]
    # Its event's publish continues the hold's request: from the transaction that wrote it, or
    # (PostgreSQL's one-statement batches make each hold's event before it queues) the request.
    assert spans["publish inventory.StockReserved"]["parentId"] in (spans["db.transaction"]["spanId"], server["spanId"])


def test_an_event_is_handled_in_the_trace_that_wrote_it(
    inventory: InventoryClient, trace_dir: Path, nats_url: str,
) -> None:
    product, order_id = inventory.new_product(2), unique("order")
    hold = inventory.hold(product, 1, orderId=order_id)
    trace_id, writer = new_context()
    confirmed = order_event("OrderConfirmed", {"orderId": order_id, "reservationId": hold["reservationId"]})

    publish(nats_url, confirmed.model_copy(update={"traceparent": f"00-{trace_id}-{writer}-01"}))

    spans = spans_of(trace_dir, trace_id, {"consume OrderConfirmed", "publish inventory.ReservationConfirmed"})
    consumed = spans["consume OrderConfirmed"]
    assert (consumed["kind"], consumed["parentId"]) == ("CONSUMER", writer)
    assert consumed["attributes"]["order.id"] == order_id
    assert consumed["attributes"]["messaging.message.id"] == confirmed.id
    assert spans["publish inventory.ReservationConfirmed"]["traceId"] == trace_id


def test_a_failing_handler_logs_its_trace_and_event(
    inventory: InventoryClient, trace_dir: Path, nats_url: str, house: Any,
) -> None:
    trace_id, writer = new_context()
    order_id = unique("order")
    broken = order_event("OrderConfirmed", {"orderId": order_id})  # no reservationId: the handler fails

    publish(nats_url, broken.model_copy(update={"traceparent": f"00-{trace_id}-{writer}-01",
                                                "correlationid": order_id}))

    def logged() -> dict[str, Any] | None:
        for line in (house.tmp_path / "inventory-1.log").read_text().splitlines():
            if trace_id in line and "handler_failed" in line:
                return dict(json.loads(line))
        return None

    failure = wait_for(logged, timeout_s=15, what="the handler_failed log line")
    assert (failure["event_id"], failure["correlation_id"]) == (broken.id, order_id)
    assert failure["span_id"] != writer
    # Each delivery is a span of its own (the handler is retried): the logged one failed.
    attempts = wait_for(lambda: {s["spanId"]: s for s in read_journeys(trace_dir, "-", "-", {trace_id})
                                 if s["spanId"] == failure["span_id"]}, timeout_s=15, what="the failed span")
    assert attempts[failure["span_id"]]["name"] == "consume OrderConfirmed"
    assert attempts[failure["span_id"]]["status"] == "ERROR"


def test_with_tracing_off_events_carry_no_trace_context(house: Any, trace_dir: Path) -> None:
    # A process of its own, stopped at the end: it shares the database and the durable consumer
    # with the traced one, and must not take over relaying or consuming in the other tests.
    proc = house.start("inventory", tracing="off", trace_dir=str(trace_dir / "off"))
    off = InventoryClient(proc.url, house.admin_token)
    try:
        product = off.new_product(1)
        trace_id, caller = new_context()
        asked_at = datetime.now(UTC)

        held = off.http.post("/inventory/reserve", json={"productId": product, "quantity": 1},
                             headers={"traceparent": f"00-{trace_id}-{caller}-01"})

        assert held.status_code == 200, held.text
        reserved = stock_reserved_event(house.nats_url, held.json()["reservationId"], asked_at)
        assert reserved.traceparent is None
        assert not (trace_dir / "off").exists()
    finally:
        off.close()
        proc.stop()


def test_stock_gauges_follow_holds_and_sales(inventory: InventoryClient, nats_url: str) -> None:
    product, order_id = inventory.new_product(5), unique("order")
    hold = inventory.hold(product, 2, orderId=order_id)

    def gauges() -> tuple[float, float, float]:
        return (inventory.metric("inventory_stock_available", product_id=product),
                inventory.metric("inventory_stock_reserved", product_id=product),
                inventory.metric("inventory_stock_sold", product_id=product))

    wait_for(lambda: gauges() == (3, 2, 0), timeout_s=10, what="gauges after the hold")
    publish(nats_url,
            order_event("OrderConfirmed", {"orderId": order_id, "reservationId": hold["reservationId"]}))
    wait_for(lambda: gauges() == (3, 0, 2), timeout_s=10, what="gauges after the sale")
    assert inventory.metric("consumer_pending_messages", consumer="inventory") >= 0


def stock_reserved_event(nats_url: str, reservation_id: str, since: datetime, timeout_s: float = 15.0) -> Envelope:
    """The StockReserved of `reservation_id`, read from the stream's messages stored since `since`
    (a second earlier, for the clocks' rounding): the session's stream holds every other test's
    holds too, and reading all of them from the start could take longer than the deadline."""

    async def read() -> Envelope:
        nc = await nats.connect(nats_url)
        try:
            recent = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME,
                                    opt_start_time=since - timedelta(seconds=1))
            sub = await nc.jetstream().pull_subscribe("inventory.StockReserved", stream="INVENTORY", config=recent)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                try:
                    messages = await sub.fetch(batch=500, timeout=0.5)
                except TimeoutError:
                    continue
                for message in messages:
                    envelope = Envelope.from_bytes(message.data)
                    if envelope.data.get("reservationId") == reservation_id:
                        return envelope
            raise AssertionError(f"no StockReserved for {reservation_id} within {timeout_s} s")
        finally:
            await nc.close()

    return asyncio.run(read())
