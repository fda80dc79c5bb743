"""What a customer is told about each outcome of an order."""

from __future__ import annotations

import pytest

from flashsale.services.notifications import domain

pytestmark = pytest.mark.unit

ORDER = "o-42"


def test_a_paid_order_is_confirmed_by_name() -> None:
    message = domain.order_confirmed(ORDER)
    assert (message.kind, message.order_id, message.reason) == ("order_confirmed", ORDER, None)
    assert message.text == "Your payment for order o-42 was received and the order is confirmed."


def test_a_completed_order_is_announced_by_name() -> None:
    message = domain.order_completed(ORDER)
    assert (message.kind, message.reason) == ("order_completed", None)
    assert "Order o-42 is complete" in message.text


@pytest.mark.parametrize(("reason", "why"), [
    ("payment_declined", "because your payment was declined"),
    ("hold_expired", "because it was not paid before the items held for it were released"),
    ("customer_cancelled", "at your request"),
])
def test_a_cancellation_the_business_did_not_cause_says_why_without_apologising(reason: str, why: str) -> None:
    message = domain.order_cancelled(ORDER, reason, refunded=False)
    assert (message.kind, message.reason) == ("order_cancelled", reason)
    assert message.text == f"Order o-42 was cancelled {why}."


def test_a_paid_order_cancelled_at_the_customers_request_mentions_the_refund() -> None:
    message = domain.order_cancelled(ORDER, "customer_cancelled", refunded=True)
    assert message.kind == "order_cancelled"
    assert message.text == "Order o-42 was cancelled at your request. Your payment of order o-42 has been refunded."


@pytest.mark.parametrize(("reason", "why"), [
    ("stock_unavailable", "because its items are no longer in stock"),
    ("shipment_failed", "because it could not be shipped"),
])
def test_a_cancellation_the_business_caused_is_an_apology_that_names_the_refund(reason: str, why: str) -> None:
    message = domain.order_cancelled(ORDER, reason, refunded=True)
    assert (message.kind, message.reason) == ("apology", reason)
    assert message.text == (
        f"We're sorry — order o-42 was cancelled {why}. Your payment of order o-42 has been refunded."
    )


def test_an_apology_promises_no_refund_when_nothing_was_refunded() -> None:
    message = domain.order_cancelled(ORDER, "shipment_failed", refunded=False)
    assert message.kind == "apology"
    assert message.text == "We're sorry — order o-42 was cancelled because it could not be shipped."


def test_a_reason_not_known_yet_is_still_named() -> None:
    message = domain.order_cancelled(ORDER, "fraud_suspected", refunded=False)
    assert (message.kind, message.reason) == ("order_cancelled", "fraud_suspected")
    assert message.text == "Order o-42 was cancelled (reason: fraud suspected)."


def test_every_message_kind_is_one_the_api_documents() -> None:
    made = [domain.order_confirmed(ORDER), domain.order_completed(ORDER)] + [
        domain.order_cancelled(ORDER, reason, refunded)
        for reason in ("payment_declined", "hold_expired", "customer_cancelled", "stock_unavailable",
                       "shipment_failed")
        for refunded in (False, True)
    ]
    assert {m.kind for m in made} == set(domain.KINDS)
