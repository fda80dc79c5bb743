"""A compensation that keeps failing parks its saga for an operator.

The saga's order service retries few times here, so its test runs on databases of its own: a
shared orders database would let another module's order instances (with the default, patient
retry settings) pick the saga up and keep retrying it.
"""

from __future__ import annotations

from typing import Any

import pytest
from orders_support import start_house, unique, wait_for
from prometheus_client.parser import text_string_to_metric_families

from flashsale.runtime.process import ServiceProcess
from support import plain_http

pytestmark = pytest.mark.service

# Few attempts, with a short backoff between them.
FEW_QUICK_RETRIES = {"saga_max_attempts": "3", "saga_retry_base_s": "0.1"}


def test_a_compensation_that_keeps_failing_is_parked_then_finished_by_an_operator(fresh_services: Any) -> None:
    house, _ = start_house(fresh_services, orders_env={**FEW_QUICK_RETRIES, "saga_park_after_s": "0"})
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))
    house.inventory.process.stop()  # no deduction: the order stays PAID
    assert house.orders.pay(order["orderId"]).json()["status"] == "PAID"
    payments_env, payments_port = house.payments.env, house.payments.port
    house.payments.stop()

    refused = house.orders.cancel(order["orderId"])

    assert (refused.status_code, refused.json()["code"]) == (503, "payments_unavailable")
    parked = wait_for(lambda: (s := house.orders.saga(order["orderId"]))["state"] == "NEEDS_ATTENTION" and s,
                      what="the saga to be parked")
    assert parked["reason"] == "customer_cancelled" and "payments" in parked["lastError"]
    assert _metric(house.orders.url, "orders_sagas_parked_total") >= 1
    assert house.orders.get(order["orderId"])["status"] == "PAID"  # not cancelled until the money is back
    assert order["orderId"] in _parked(house.orders.url, house.orders.admin)  # the operator's list shows it

    back = ServiceProcess("payments", payments_port, payments_env, log_file=house.payments.log_file)
    fresh_services.processes.append(back.start())
    back.wait_healthy()
    retried = plain_http.post(f"{house.orders.url}/orders/{order['orderId']}/saga/retry", headers=house.orders.admin)

    assert retried.status_code == 200, retried.text
    finished = house.orders.wait_status(order["orderId"], "CANCELLED")
    assert finished["statusReason"] == "customer_cancelled"
    assert house.orders.saga(order["orderId"])["state"] == "COMPENSATED"
    assert house.ledger_kinds(order["orderId"]) == ["AUTHORISED", "VOIDED"]
    assert order["orderId"] not in _parked(house.orders.url, house.orders.admin)


def test_a_payments_outage_shorter_than_the_parking_time_does_not_park_the_saga(fresh_services: Any) -> None:
    """More failed attempts than the parking count (buyers' retried pays attempt the saga too),
    within minutes, is a dependency restarting, not a saga an operator must look at."""
    # Backoff capped at 1 s: once payments is back, the saga's next attempt comes within a second
    # instead of after the doubling delays the outage built up (3.2 s, 6.4 s, ...).
    house, _ = start_house(fresh_services, orders_env={**FEW_QUICK_RETRIES, "saga_retry_cap_s": "1"})
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))
    payments_env, payments_port = house.payments.env, house.payments.port
    house.payments.stop()

    assert house.orders.pay(order["orderId"]).status_code == 503
    saga = wait_for(lambda: (s := house.orders.saga(order["orderId"]))["attempts"] > 3 and s,
                    what="more failed attempts than the parking count")
    assert saga["state"] == "RUNNING", saga
    back = ServiceProcess("payments", payments_port, payments_env, log_file=house.payments.log_file)
    fresh_services.processes.append(back.start())
    back.wait_healthy()
    assert house.orders.wait_status(order["orderId"], "COMPLETED")["statusReason"] is None


def _parked(orders_url: str, admin: dict[str, str]) -> list[str]:
    """The order ids of the sagas parked for an operator, the most recently parked first."""
    answer = plain_http.get(f"{orders_url}/sagas", params={"state": "NEEDS_ATTENTION", "limit": "100"}, headers=admin)
    assert answer.status_code == 200, answer.text
    sagas = answer.json()["sagas"]
    assert all(saga["state"] == "NEEDS_ATTENTION" for saga in sagas)
    return [saga["orderId"] for saga in sagas]


def _metric(url: str, name: str) -> float:
    text = plain_http.get(f"{url}/metrics").text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name)
