"""The reporting projection counts what the events say happened, each event once. In-process: the
events go out on the real NATS and the app's own consumers read them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from reporting_support import Reporting, event, publish, publish_again

from flashsale.kit.envelope import Envelope
from support.ids import unique
from support.in_process import InProcessHouse
from support.polling import wait_for

pytestmark = pytest.mark.service

MINUTE_MS = 60_000
LAST_EVENTS = 3


@pytest.fixture
def reporting(in_process: InProcessHouse) -> Reporting:
    return Reporting(in_process.shared("reporting").http)


def _lines(*lines: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"productId": product, "quantity": units} for product, units in lines]


class Sale:
    """A small sale of products P and Q told as events, stamped from `t0` (a minute boundary)."""

    def __init__(self) -> None:
        self.p, self.q = unique("p"), unique("q")
        self.t0 = (int(time.time() * 1000) // MINUTE_MS - 10) * MINUTE_MS
        self.events: list[tuple[str, Envelope]] = []

    def add(self, producer: str, event_type: str, subject: str, at_s: float, **data: Any) -> Envelope:
        envelope = event(producer, event_type, subject, self.t0 + int(at_s * 1000), **data)
        self.events.append((producer, envelope))
        return envelope

    def hold(self, at_s: float, order_id: str | None, *lines: tuple[str, int]) -> str:
        reservation = unique("r")
        self.add("inventory", "StockReserved", reservation, at_s, reservationId=reservation, orderId=order_id,
                 items=_lines(*lines), expiresAt="2099-01-01T00:00:00.000Z")
        if order_id is not None:
            self.add("orders", "OrderCreated", order_id, at_s, orderId=order_id, customerId=unique("c"),
                     reservationId=reservation, items=_lines(*lines))
        return reservation

    def inventory(self, event_type: str, reservation: str, at_s: float, order_id: str | None,
                  *lines: tuple[str, int], **data: Any) -> Envelope:
        return self.add("inventory", event_type, reservation, at_s, reservationId=reservation, orderId=order_id,
                        items=_lines(*lines), **data)

    def order(self, event_type: str, order_id: str, reservation: str, at_s: float, **data: Any) -> Envelope:
        return self.add("orders", event_type, order_id, at_s, orderId=order_id, reservationId=reservation, **data)

    def payment(self, event_type: str, order_id: str, at_s: float, **data: Any) -> Envelope:
        return self.add("payments", event_type, order_id, at_s, paymentId=f"pay-{order_id}", orderId=order_id, **data)


def _story(sale: Sale) -> list[tuple[str, Envelope]]:
    """10 units of P; four holds; o1 completes, o2 is declined, a walk-in hold expires, and o4 (P
    and Q) is sold, then revoked (a unit lost in the warehouse) and refunded. Returns the events
    to publish a second time."""
    p, q = sale.p, sale.q
    sale.add("inventory", "StockReceived", p, 0, productId=p, quantity=10, available=10)
    o1, o2, o4 = unique("o"), unique("o"), unique("o")
    r1 = sale.hold(1, o1, (p, 2))
    r2 = sale.hold(2, o2, (p, 1))
    r3 = sale.hold(3, None, (p, 3))
    r4 = sale.hold(4, o4, (p, 1), (q, 1))
    sale.payment("PaymentAuthorised", o1, 9, amountCents=1000)
    sale.order("OrderConfirmed", o1, r1, 10)
    sold = sale.inventory("ReservationConfirmed", r1, 11, o1, (p, 2), confirmedAt="x")
    captured = sale.payment("PaymentCaptured", o1, 12, amountCents=1000)
    sale.order("OrderCompleted", o1, r1, 13)
    sale.payment("PaymentDeclined", o2, 12, reason="declined")
    sale.inventory("ReservationReleased", r2, 12, o2, (p, 1), reason="payment_declined")
    sale.order("OrderCancelled", o2, r2, 12, reason="payment_declined", refunded=False)
    sale.order("OrderConfirmed", o4, r4, 20)
    sale.inventory("ReservationConfirmed", r4, 21, o4, (p, 1), (q, 1), confirmedAt="x")
    sale.payment("PaymentCaptured", o4, 22, amountCents=800)
    sale.inventory("ReservationExpired", r3, 65, None, (p, 3))
    # The last events (LAST_EVENTS of them): one on each stream.
    sale.inventory("ReservationRevoked", r4, 70, o4, (p, 1), (q, 1), stage="CONFIRMED", reason="damaged")
    sale.payment("PaymentRefunded", o4, 71, amountCents=800)
    sale.order("OrderCancelled", o4, r4, 72, reason="stock_unavailable", refunded=True)
    return [("inventory", sold), ("payments", captured)]


def _at(sale: Sale, seconds: int) -> str:
    stamp = time.gmtime((sale.t0 + seconds * 1000) / 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", stamp)


def test_a_sale_told_in_events_is_reported_exactly_and_a_replayed_event_counts_once(
    reporting: Reporting, nats_url: str
) -> None:
    sale = Sale()
    replayed = _story(sale)
    # The story's last events go out after the replayed copies, on the same streams: once the
    # report shows them, the copies have been through the projection too.
    publish(nats_url, sale.events[:-LAST_EVENTS])
    publish_again(nats_url, replayed)
    publish(nats_url, sale.events[-LAST_EVENTS:])

    p = reporting.wait_for_figures(sale.p, {
        "received": 10, "adjusted": 0, "held": 7, "sold": 3, "released": 1, "expired": 3, "revoked": 1,
        "orders": {"created": 3, "paid": 2, "completed": 1, "cancelled": 2,
                   "cancelledByReason": {"payment_declined": 1, "stock_unavailable": 1}},
        # o4's 800 cents are shared by units between P and Q.
        "money": {"capturedCents": 1400, "refundedCents": 400, "voidedCents": 0},
    })

    assert (p["conversion"], p["sellThrough"]) == (3 / 7, 3 / 10)
    assert p["series"] == [
        {"bucketStart": _at(sale, 0), "received": 10, "held": 7, "sold": 0, "soldSoFar": 0, "sellThrough": 0.0},
        {"bucketStart": _at(sale, 10), "received": 0, "held": 0, "sold": 2, "soldSoFar": 2, "sellThrough": 0.2},
        {"bucketStart": _at(sale, 20), "received": 0, "held": 0, "sold": 1, "soldSoFar": 3, "sellThrough": 0.3},
    ]


def test_each_product_of_an_order_gets_its_own_figures_and_a_minute_bucket_sums_the_seconds(
    reporting: Reporting, nats_url: str
) -> None:
    sale = Sale()
    _story(sale)
    publish(nats_url, sale.events)

    q = reporting.wait_for_figures(sale.q, {
        "received": 0, "held": 1, "sold": 1, "revoked": 1,
        "orders": {"created": 1, "paid": 1, "completed": 0, "cancelled": 1,
                   "cancelledByReason": {"stock_unavailable": 1}},
        "money": {"capturedCents": 400, "refundedCents": 400, "voidedCents": 0},
    })
    p = reporting.wait_for_figures(sale.p, {"sold": 3, "revoked": 1}, bucket="1m")

    assert (q["conversion"], q["sellThrough"]) == (1.0, None)  # nothing received: no sell-through to speak of
    assert p["series"] == [
        {"bucketStart": _at(sale, 0), "received": 10, "held": 7, "sold": 3, "soldSoFar": 3, "sellThrough": 0.3},
    ]


def test_a_product_nobody_named_has_no_figures(reporting: Reporting) -> None:
    answer = reporting.sales_answer(productId=unique("p"))

    assert answer.status_code == 200
    assert answer.json() == {"bucket": "10s", "products": []}


def test_every_event_is_counted_by_type_even_one_the_projection_cannot_read(
    reporting: Reporting, nats_url: str
) -> None:
    kind = f"Widget{unique('Polished').replace('-', '')}"
    now_ms = int(time.time() * 1000)
    widgets = [event("shipping", kind, unique("s"), now_ms, note="a type added later") for _ in range(3)]
    done = event("shipping", f"{kind}Done", unique("s"), now_ms)
    publish(nats_url, [("shipping", widgets[0])])
    publish_again(nats_url, [("shipping", widgets[0])])
    publish(nats_url, [("shipping", e) for e in (*widgets[1:], done)])

    def after_the_last() -> dict[str, int] | None:
        counts = reporting.counts()
        return counts if f"{kind}Done" in counts else None

    counts = wait_for(after_the_last, what=f"{kind}Done counted")

    assert counts[kind] == 3
