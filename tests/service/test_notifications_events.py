"""The notifications service hears the order service's outcomes and tells each customer once.
In-process: the events go out on the real NATS and the app's own consumers read them. Counters are
read as deltas (every app in this process counts on one registry)."""

from __future__ import annotations

import asyncio

import pytest
from notifications_support import (
    NotificationsClient,
    cancelled,
    completed,
    confirmed,
    publish,
    publish_with_msg_id,
)

from flashsale.kit.deadletters import list_dead_letters
from support.ids import unique
from support.in_process import InProcessHouse, logged
from support.polling import wait_for

pytestmark = pytest.mark.service


@pytest.fixture
def notifications(in_process: InProcessHouse) -> NotificationsClient:
    return NotificationsClient(in_process.shared("notifications").http)


def test_a_paid_then_completed_order_tells_its_customer_both_newest_first(
    notifications: NotificationsClient, nats_url: str
) -> None:
    customer, order = unique("c"), unique("o")
    publish(nats_url, confirmed(order, customer))
    notifications.wait_for_messages(customerId=customer)

    publish(nats_url, completed(order, customer))

    told = notifications.wait_for_messages(2, customerId=customer)
    assert [m["kind"] for m in told] == ["order_completed", "order_confirmed"]
    assert all(m["orderId"] == order and m["customerId"] == customer and m["reason"] is None for m in told)
    assert all(order in m["message"] for m in told)
    assert "confirmed" in told[1]["message"] and "complete" in told[0]["message"]
    assert told[0]["createdAt"] >= told[1]["createdAt"]
    assert notifications.of(customerId=unique("c")) == []


def test_a_cancellation_says_which_order_and_why(notifications: NotificationsClient, nats_url: str) -> None:
    customer = unique("c")
    orders = {reason: unique("o") for reason in ("payment_declined", "hold_expired", "customer_cancelled")}
    publish(nats_url, *(cancelled(order, customer, reason) for reason, order in orders.items()))

    told = {m["orderId"]: m for m in notifications.wait_for_messages(3, customerId=customer)}

    words = {"payment_declined": "payment was declined", "hold_expired": "not paid",
             "customer_cancelled": "at your request"}
    for reason, order in orders.items():
        message = told[order]
        assert (message["kind"], message["reason"]) == ("order_cancelled", reason)
        assert f"Order {order} was cancelled" in message["message"]
        assert words[reason] in message["message"]
        assert "sorry" not in message["message"].lower()


@pytest.mark.parametrize("reason", ["stock_unavailable", "shipment_failed"])
def test_an_order_the_business_could_not_honour_gets_an_apology_naming_its_refund(
    notifications: NotificationsClient, nats_url: str, reason: str
) -> None:
    customer, refunded, unpaid = unique("c"), unique("o"), unique("o")
    apologies_before = notifications.metric("notifications_recorded_total", kind="apology")
    publish(nats_url, cancelled(refunded, customer, reason, refunded=True),
            cancelled(unpaid, customer, reason, refunded=False))

    told = {m["orderId"]: m for m in notifications.wait_for_messages(2, customerId=customer)}

    for order in (refunded, unpaid):
        assert (told[order]["kind"], told[order]["reason"]) == ("apology", reason)
        assert told[order]["message"].startswith("We're sorry")
        assert order in told[order]["message"]
    assert f"your payment of order {refunded} has been refunded" in told[refunded]["message"].lower()
    assert "refund" not in told[unpaid]["message"]
    # At least: the app may also have handled earlier tests' events still in the stream; and a
    # message is counted just after it is committed, so the count may trail the listing.
    wait_for(lambda: notifications.metric("notifications_recorded_total", kind="apology") >= apologies_before + 2,
             what="both apologies counted")


def test_an_event_delivered_twice_leaves_one_message(notifications: NotificationsClient, nats_url: str) -> None:
    customer, order = unique("c"), unique("o")
    event = cancelled(order, customer, "stock_unavailable", refunded=True)
    labels = {"consumer": "notifications", "type": "OrderCancelled", "outcome": "duplicate"}
    duplicates_before = notifications.metric("events_consumed_total", **labels)

    publish(nats_url, event, event)  # the same Nats-Msg-Id: the stream keeps one copy
    publish_with_msg_id(nats_url, event, unique("msg"))  # a second copy in the stream: the inbox drops it
    behind = unique("o")
    publish(nats_url, confirmed(behind, customer))

    notifications.wait_for_messages(orderId=behind)
    wait_for(lambda: notifications.metric("events_consumed_total", **labels) > duplicates_before,
             what="the second copy to be handled")
    assert [m["kind"] for m in notifications.of(orderId=order)] == ["apology"]
    assert len(notifications.of(customerId=customer)) == 2


def test_an_event_naming_no_customer_is_skipped_and_those_behind_it_are_recorded(
    notifications: NotificationsClient, nats_url: str
) -> None:
    anonymous, order, customer = unique("o"), unique("o"), unique("c")
    old_style = cancelled(anonymous, None, "hold_expired")
    skipped_before = notifications.metric("notifications_skipped_total", reason="no_customer")

    publish(nats_url, old_style, confirmed(order, customer))

    assert [m["kind"] for m in notifications.wait_for_messages(customerId=customer)] == ["order_confirmed"]
    wait_for(lambda: logged("notification_skipped", "warning", id=old_style.id),
             what="a warning that the event was skipped")
    assert notifications.metric("notifications_skipped_total", reason="no_customer") >= skipped_before + 1
    assert notifications.of(orderId=anonymous) == []
    letters = asyncio.run(list_dead_letters(nats_url))
    assert [d for d in letters if d.event_id == old_style.id] == []
