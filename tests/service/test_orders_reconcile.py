"""Reconciliation of the contact copy: drift injected into the orders database (rows deleted,
corrupted, set back or forward) is found and repaired, every injected case of it, on demand and
by the scheduled job; the counts say what a round walked and fixed."""

from __future__ import annotations

from typing import Any

import pytest
from contacts_support import ContactCopy, tamper
from customers_support import CustomersClient
from orders_support import wait_for
from starting_support import side_by_side

from flashsale.runtime.nats_server import free_port
from flashsale.runtime.process import ServiceProcess
from support import plain_http

pytestmark = pytest.mark.service


@pytest.fixture
def services(house: Any) -> Any:
    """This module's tests share their processes: each makes its own ids, none needs a fresh house.
    The inventory, payments and customers every test here needs start side by side."""
    side_by_side(house, lambda: house.shared("inventory"), lambda: house.shared("payments"),
                 lambda: house.shared("customers"))
    return house


def orders(services: Any, *, instance: str = "1", start: bool = False, **env: str) -> ServiceProcess:
    """An order-service process wired to the module's inventory and payments and to `env`."""
    wiring = {"inventory_urls": services.shared("inventory").url, "payments_urls": services.shared("payments").url}
    launch = services.start if start else services.shared
    process: ServiceProcess = launch("orders", instance=instance, **wiring, **env)
    return process


@pytest.fixture
def copy(services: Any, customers: CustomersClient) -> ContactCopy:
    """The order service, reconciling on demand only (no scheduled rounds to race the tests)."""
    reconciling = orders(services, customers_urls=customers.url, reconcile_interval_s="0")
    return ContactCopy(reconciling.url, services.admin_token)


def source(customers: CustomersClient, customer_id: str) -> dict[str, Any]:
    profile = customers.get(customer_id).json()
    return {k: profile[k] for k in ("customerId", "name", "email", "version")}


def copied_customers(customers: CustomersClient, copy: ContactCopy, count: int) -> list[str]:
    """New customers, each changed once (version 2), once their copy has caught up."""
    made = [customers.created()["customerId"] for _ in range(count)]
    for customer_id in made:
        assert customers.patch(customer_id, {"email": f"second-{customer_id}@example.org"}).status_code == 200
    for customer_id in made:
        copy.wait_version(customer_id, 2)
    return made


def inject_drift(database_base: str, customers: CustomersClient, ids: list[str]) -> dict[str, str]:
    """One case of each kind of drift, straight in the orders database; returns the kind per id."""
    missing, corrupt, stale, ahead = ids
    tamper(database_base, "DELETE FROM customer_contacts WHERE customer_id = :c", c=missing)
    tamper(database_base, "UPDATE customer_contacts SET email = 'corrupt@invalid', name = '?' "
           "WHERE customer_id = :c", c=corrupt)
    first_email = f"{stale}@example.com"  # what version 1 said
    tamper(database_base, "UPDATE customer_contacts SET version = 1, email = :e WHERE customer_id = :c",
           c=stale, e=first_email)
    tamper(database_base, "UPDATE customer_contacts SET version = 99, email = 'ghost@invalid' "
           "WHERE customer_id = :c", c=ahead)
    return {missing: "missing", corrupt: "corrupt", stale: "stale", ahead: "ahead"}


def test_every_injected_drift_is_found_and_repaired_and_counted(
    services: Any, customers: CustomersClient, copy: ContactCopy
) -> None:
    drifting = copied_customers(customers, copy, 4)
    untouched = copied_customers(customers, copy, 1)[0]
    flushed = copy.reconcile()  # whatever drift there was before this test is not its to count
    assert flushed.status_code == 200, flushed.text

    kinds = inject_drift(services.database_base, customers, drifting)
    kept = copy.contact(drifting[3])
    assert copy.contact(drifting[0]) is None and kept is not None and kept["version"] == 99
    repaired = copy.reconcile()

    assert repaired.status_code == 200, repaired.text
    assert repaired.json()["fixed"] == len(kinds) == 4
    assert repaired.json()["processed"] >= len(drifting) + 1
    for customer_id, kind in kinds.items():
        assert copy.contact(customer_id) == source(customers, customer_id), kind
    assert copy.contact(untouched) == source(customers, untouched)
    again = copy.reconcile()
    assert again.json()["fixed"] == 0


def test_reconciliation_pages_through_every_customer(services: Any, customers: CustomersClient) -> None:
    # Pages of two: the customers this test makes span several of them.
    paging = orders(services, instance="2", customers_urls=customers.url, reconcile_interval_s="0",
                    reconcile_page_size="2")
    copy = ContactCopy(paging.url, services.admin_token)
    made = copied_customers(customers, copy, 5)
    for customer_id in made:
        tamper(services.database_base, "DELETE FROM customer_contacts WHERE customer_id = :c", c=customer_id)

    repaired = copy.reconcile()

    assert repaired.status_code == 200, repaired.text
    assert repaired.json()["fixed"] >= 5
    assert all(copy.contact(c) == source(customers, c) for c in made)


def test_the_scheduled_job_repairs_drift_without_being_asked(services: Any, customers: CustomersClient) -> None:
    scheduled = orders(services, instance="3", start=True, customers_urls=customers.url, reconcile_interval_s="1")
    try:
        copy = ContactCopy(scheduled.url, services.admin_token)
        customer_id = copied_customers(customers, copy, 1)[0]
        tamper(services.database_base, "UPDATE customer_contacts SET email = 'corrupt@invalid' "
               "WHERE customer_id = :c", c=customer_id)

        wait_for(lambda: copy.contact(customer_id) == source(customers, customer_id), timeout_s=15,
                 what="the scheduled reconciliation to repair the copy")
    finally:
        scheduled.stop()


def test_reconciling_needs_the_admin_token_and_a_reachable_customers_service(
    services: Any, copy: ContactCopy
) -> None:
    blind = orders(services, instance="4", customers_urls=f"http://127.0.0.1:{free_port()}",
                   reconcile_interval_s="0")
    unreachable = ContactCopy(blind.url, services.admin_token).reconcile()
    anonymous = plain_http.post(f"{copy.url}/orders/reconcile", timeout=10)
    wrong = plain_http.post(f"{copy.url}/orders/reconcile", headers={"Authorization": "Bearer wrong"}, timeout=10)

    assert (unreachable.status_code, unreachable.json()["code"]) == (503, "customers_unavailable")
    assert (anonymous.status_code, wrong.status_code) == (401, 403)
