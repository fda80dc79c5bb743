"""What the reporting projection reads out of an event, and its ratios."""

from __future__ import annotations

from typing import Any

import pytest

from flashsale.services.reporting.domain import (
    Fact,
    Orders,
    Point,
    ProductSales,
    Units,
    fact_of,
    first_of_each,
    ratio,
)

pytestmark = pytest.mark.unit


def _fact(event_type: str, event_id: str = "e-1", **data: Any) -> Fact:
    return fact_of(event_id=event_id, type=event_type, producer="inventory", subject="s", happened_ms=1, data=data)


def test_a_hold_keeps_each_product_line_and_its_order() -> None:
    fact = _fact("StockReserved", reservationId="r-1", orderId="o-1", expiresAt="x",
                 items=[{"productId": "P", "quantity": 2}, {"productId": "Q", "quantity": 1}])

    assert fact.lines == (("P", 2), ("Q", 1))
    assert (fact.order_id, fact.reservation_id, fact.amount_cents) == ("o-1", "r-1", None)


def test_a_receipt_an_adjustment_and_a_product_change_name_one_product() -> None:
    received = _fact("StockReceived", productId="P", quantity=5, available=5)
    written_off = _fact("StockAdjusted", productId="P", delta=-2, reason="damaged", available=3)
    listed = _fact("ProductUpdated", productId="P", version=1, name="n", priceCents=100, description="",
                   imageUrl=None, saleStartsAt=None, saleEndsAt=None)

    assert [received.lines, written_off.lines, listed.lines] == [(("P", 5),), (("P", -2),), (("P", 0),)]
    assert written_off.reason == "damaged"


def test_money_reasons_stages_and_refunds_are_taken_out() -> None:
    captured = _fact("PaymentCaptured", paymentId="pay", orderId="o-1", amountCents=999)
    revoked = _fact("ReservationRevoked", reservationId="r", orderId=None, items=[], stage="CONFIRMED",
                    reason="damaged")
    cancelled = _fact("OrderCancelled", orderId="o-1", reservationId=None, reason="hold_expired", refunded=True)

    assert (captured.order_id, captured.amount_cents, captured.lines) == ("o-1", 999, ())
    assert (revoked.stage, revoked.reason, revoked.order_id) == ("CONFIRMED", "damaged", None)
    assert (cancelled.reason, cancelled.refunded) == ("hold_expired", True)


def test_a_known_type_that_breaks_its_contract_is_refused() -> None:
    with pytest.raises(ValueError):
        _fact("PaymentCaptured", orderId="o-1", amountCents="a lot")


def test_an_unknown_type_is_kept_with_what_it_shares_and_odd_fields_ignored() -> None:
    fact = _fact("WidgetPolished", orderId=7, amountCents=True, reason="shiny",
                 items=[{"productId": "P", "quantity": 1}, {"productId": "Q"}, "junk", {"productId": 3, "quantity": 1}])

    assert fact.lines == (("P", 1),)
    assert (fact.order_id, fact.amount_cents, fact.reason) == (None, None, "shiny")


def test_an_event_twice_in_one_batch_is_kept_once_as_first_seen() -> None:
    first = _fact("OrderCompleted", "e-1", orderId="o-1", reservationId="r")
    other = _fact("OrderCompleted", "e-2", orderId="o-2", reservationId="r")
    again = _fact("OrderCompleted", "e-1", orderId="o-1", reservationId="r")

    assert first_of_each([first, other, again]) == [first, other]


def test_ratios_are_none_without_a_whole() -> None:
    assert ratio(3, 4) == 0.75
    assert ratio(0, 0) is None
    assert ratio(2, -1) is None


def test_a_products_conversion_sell_through_and_cancellations() -> None:
    sales = ProductSales("P", Units(received=10, held=8, sold=6),
                         Orders(created=7, cancelled_by_reason={"payment_declined": 2, "hold_expired": 1}))
    point = Point(bucket_start_ms=0, received=0, held=0, sold=1, sold_so_far=4, received_so_far=10)

    assert (sales.conversion, sales.sell_through, sales.orders.cancelled) == (0.75, 0.6, 3)
    assert point.sell_through == 0.4
    assert ProductSales("Q").conversion is None
