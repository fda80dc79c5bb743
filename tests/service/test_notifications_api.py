"""GET /notifications lists what a customer (or an order) was told; bad input is a 4xx problem.
In-process: these are rules of one app's API and consumers."""

from __future__ import annotations

import pytest
from notifications_support import NotificationsClient, cancelled, completed, confirmed, publish

from support.ids import unique
from support.in_process import InProcessHouse
from support.problems import assert_problem

pytestmark = pytest.mark.service


@pytest.fixture
def notifications(in_process: InProcessHouse) -> NotificationsClient:
    return NotificationsClient(in_process.shared("notifications").http)


def test_messages_are_listed_per_customer_or_per_order_newest_first(
    notifications: NotificationsClient, nats_url: str
) -> None:
    customer, first, second = unique("c"), unique("o"), unique("o")
    events = [confirmed(first, customer), completed(first, customer), cancelled(second, customer, "hold_expired")]
    for count, event in enumerate(events, start=1):  # one at a time: each is newer than the last
        publish(nats_url, event)
        notifications.wait_for_messages(count, customerId=customer)

    assert [(m["orderId"], m["kind"]) for m in notifications.of(customerId=customer)] == [
        (second, "order_cancelled"), (first, "order_completed"), (first, "order_confirmed"),
    ]
    assert [m["kind"] for m in notifications.of(customerId=customer, limit=2)] == [
        "order_cancelled", "order_completed",
    ]
    assert [m["kind"] for m in notifications.of(orderId=first)] == ["order_completed", "order_confirmed"]
    assert [m["kind"] for m in notifications.of(orderId=first, customerId=customer, limit=1)] == ["order_completed"]
    assert notifications.of(orderId=first, customerId=unique("c")) == []


def test_an_unknown_customer_has_no_messages(notifications: NotificationsClient) -> None:
    answer = notifications.get(customerId=unique("c"))
    assert (answer.status_code, answer.json()) == (200, {"notifications": []})


BAD_QUERIES: list[dict[str, object]] = [
    {},
    {"limit": 10},
    {"customerId": ""},
    {"customerId": "has space"},
    {"customerId": "-starts-with-dash"},
    {"customerId": "c" * 101},
    {"orderId": "o/1"},
    {"customerId": "c-1", "orderId": "bad id"},
    {"customerId": "c-1", "limit": 0},
    {"customerId": "c-1", "limit": 1001},
    {"orderId": "o-1", "limit": "ten"},
]


def test_a_query_without_a_valid_customer_or_order_is_refused(notifications: NotificationsClient) -> None:
    for params in BAD_QUERIES:  # one app answers them all
        assert_problem(notifications.get(**params), 422, "invalid_request", params)
