"""The customers service announces every new version of a profile on its own stream (CUSTOMERS,
subjects customers.<Type>) in version order, and announces nothing that changed nothing."""

from __future__ import annotations

import pytest
from customers_support import CustomersClient, about, address, customer_events, new_customer

from support.in_process import InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def customers(in_process: InProcessHouse) -> CustomersClient:
    """The module's customers app, in-process (in place of tests/service/conftest.py's process)."""
    return CustomersClient(in_process.shared("customers").http, in_process.admin_token)


def test_every_version_of_a_profile_is_announced_in_order(customers: CustomersClient, nats_url: str) -> None:
    customer = customers.created()
    customer_id = customer["customerId"]
    customers.patch(customer_id, {"name": "Ann Lee-Smith"})
    customers.patch(customer_id, {"email": f"moved-{customer_id}@example.org"})
    final = customers.patch(customer_id, {"address": address(line2="Flat 3", country="AT", city="Wien")}).json()

    events = [e for e in customer_events(nats_url, about(customer_id, 4)) if e.subject == customer_id]

    assert [(e.type, e.data["version"]) for e in events] == [("CustomerUpdated", v) for v in (1, 2, 3, 4)]
    assert events[0].data == {k: customer[k] for k in ("customerId", "version", "name", "email", "address")}
    assert events[-1].data == {k: final[k] for k in ("customerId", "version", "name", "email", "address")}
    assert [e.data["name"] for e in events] == ["Ann Lee", "Ann Lee-Smith", "Ann Lee-Smith", "Ann Lee-Smith"]
    assert {e.source for e in events} == {"/flashsale/customers"}
    assert {e.correlationid for e in events} == {customer_id}


def test_no_op_changes_and_refusals_announce_nothing(customers: CustomersClient, nats_url: str) -> None:
    quiet = customers.created()
    quiet_id = quiet["customerId"]
    customers.patch(quiet_id, {"name": quiet["name"]})
    customers.patch(quiet_id, {})
    customers.patch(quiet_id, {"name": "Stale"}, if_match='"7"')
    customers.patch(quiet_id, {"email": "not an email"})
    customers.create(new_customer(quiet_id))
    customers.create(new_customer(email=quiet["email"].upper()))
    # Committed last: once its event is read, everything written before it has been read too.
    marker = customers.created()["customerId"]

    events = customer_events(nats_url, about(marker, 1))

    assert [(e.subject, e.data["version"]) for e in events if e.subject == quiet_id] == [(quiet_id, 1)]
    assert [e.data["customerId"] for e in events].count(marker) == 1
