"""A checkout moves on as soon as each step's news is committed, never at some loop's next poll.

Every poll here is set far beyond the test's deadline (30 s): the outbox relays of the order and
inventory services and the order service's saga worker. An order that still completes within
seconds was carried by the wake-ups alone: the commit that wrote OrderConfirmed on one order
instance woke the relay of the other (which holds the relay lease), and the consumer that recorded
the deduction woke the saga. A saga in a slow step (a capture the provider answers late) holds up
no other saga.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from orders_support import Orders, start_house, unique, wait_for

pytestmark = pytest.mark.service

POLL_S = "30"  # no test here may wait this long: what moves, moves because it was woken
IDLE_POLLS = {"saga_poll_interval_s": POLL_S, "relay_poll_interval_s": POLL_S}
WITHIN_S = 10.0  # a third of a poll, generous for a loaded machine


def _step(orders: Orders, order_id: str, name: str) -> dict[str, Any] | None:
    return next((step for step in orders.saga(order_id)["steps"] if step["step"] == name), None)


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


# The test of one instance runs first, on the first instance alone; the next adds the second.


def test_a_saga_does_not_wait_for_another_sagas_slow_capture(services: Any) -> None:
    house, _ = start_house(services, shipping=True, orders_env=IDLE_POLLS, relay_poll_interval_s=POLL_S)
    orders = house.orders
    slow = orders.placed(unique("c"), (house.inventory.new_product(1), 1))["orderId"]
    quick = orders.placed(unique("c"), (house.inventory.new_product(1), 1))["orderId"]
    assert orders.pay(slow, token="tok_slow_capture").status_code == 200  # the provider answers in 2 s
    wait_for(lambda: _step(orders, slow, "capture"), timeout_s=WITHIN_S, what=f"order {slow}'s capture to begin")

    assert orders.pay(quick).status_code == 200
    orders.wait_status(quick, "COMPLETED", timeout_s=WITHIN_S)

    # The quick order's saga was resumed while the slow capture was still waiting for its answer.
    slow_capture, quick_capture = _step(orders, slow, "capture"), _step(orders, quick, "capture")
    assert slow_capture is not None and quick_capture is not None
    assert slow_capture["finishedAt"] is None or _at(quick_capture["startedAt"]) < _at(slow_capture["finishedAt"])


def test_an_order_paid_on_either_instance_completes_without_waiting_for_a_poll(services: Any) -> None:
    house, instances = start_house(services, orders_instances=2, shipping=True, orders_env=IDLE_POLLS,
                                   relay_poll_interval_s=POLL_S)
    # One of the two instances holds the relay lease: one of these orders is paid on the other.
    for placed_on, paid_on in ((instances[0], instances[1]), (instances[1], instances[0])):
        order = placed_on.placed(unique("c"), (house.inventory.new_product(1), 1))
        assert paid_on.pay(order["orderId"]).status_code == 200

        placed_on.wait_status(order["orderId"], "COMPLETED", timeout_s=WITHIN_S)
