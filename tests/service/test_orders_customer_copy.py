"""The order service's copy of customers' contacts follows CustomerUpdated: the newest version wins
whatever order events arrive in, and however often; a real change in the customers service
reaches the contact email an order shows."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from contacts_support import ContactCopy, customer_updated, publish
from customers_support import CustomersClient
from orders_support import House, start_house, unique, wait_for
from starting_support import side_by_side

from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.services.orders.domain import Contact
from flashsale.services.orders.store import ContactStore

pytestmark = pytest.mark.service


@pytest.fixture
def services(house: Any) -> Any:
    """This module's tests share their processes: each makes its own ids, none needs a fresh house.
    One order process only: the tests below read its consumer's progress in stream order. The
    customers service one of them needs starts beside the inventory and payments."""
    side_by_side(house, lambda: house.shared("inventory"), lambda: house.shared("payments"),
                 lambda: house.shared("customers"))
    return house


@pytest.fixture
def shop(services: Any) -> House:
    house, _ = start_house(services)
    return house


@pytest.fixture
def copy(shop: House, services: Any) -> ContactCopy:
    return ContactCopy(shop.orders.url, services.admin_token)


def settled(copy: ContactCopy, nats_url: str) -> None:
    """Every event published before this has been handled: the order service's one consumer
    handles the stream in order, so once a marker published now is in the copy, so is the rest."""
    marker = unique("marker")
    publish(nats_url, customer_updated(marker, 1))
    copy.wait_version(marker, 1)


def test_events_out_of_order_leave_the_newest_version(copy: ContactCopy, nats_url: str) -> None:
    customer = unique("cust")
    v1, v2, v3 = (customer_updated(customer, v) for v in (1, 2, 3))

    publish(nats_url, v3, v1, v2)
    settled(copy, nats_url)

    assert copy.contact(customer) == {"customerId": customer, "name": "Ann Lee", "email": v3.data["email"],
                                      "version": 3}


def test_duplicate_events_change_nothing_more(copy: ContactCopy, nats_url: str) -> None:
    customer = unique("cust")
    v1, v2 = customer_updated(customer, 1), customer_updated(customer, 2)
    # The same v2 again (a relay replay, under another message id) and a second, different event
    # claiming version 2: the first version-2 profile stays, and v1 coming late changes nothing.
    impostor = customer_updated(customer, 2, email=f"impostor-{customer}@example.com")

    publish(nats_url, v1, v2, (v2, unique("replay")), impostor, (v1, unique("replay")))
    settled(copy, nats_url)

    assert copy.contact(customer) == {"customerId": customer, "name": "Ann Lee", "email": v2.data["email"],
                                      "version": 2}


def test_the_copy_is_read_by_admins_only_and_an_unknown_customer_is_404(copy: ContactCopy) -> None:
    unknown = copy.get(unique("cust"))
    anonymous = copy.get(unique("cust"), headers={})

    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_customer")
    assert anonymous.status_code == 401


def test_an_email_change_in_the_customers_service_reaches_the_orders_contact_email(
    shop: House, copy: ContactCopy, customers: CustomersClient
) -> None:
    customer = customers.created()
    customer_id = customer["customerId"]
    product = shop.inventory.new_product(2)
    order_id = shop.orders.placed(customer_id, (product, 1))["orderId"]

    def contact_email_is(email: str) -> bool:
        return bool(shop.orders.get(order_id)["contactEmail"] == email)

    wait_for(lambda: contact_email_is(customer["email"]), what="the order to show the customer's email")
    moved = f"moved-{customer_id}@example.org"
    changed = customers.patch(customer_id, {"email": moved})
    assert changed.status_code == 200, changed.text

    wait_for(lambda: contact_email_is(moved), what="the order to show the customer's new email")
    assert copy.contact(customer_id) == {"customerId": customer_id, "name": customer["name"], "email": moved,
                                         "version": 2}


def test_an_order_of_a_customer_the_copy_has_not_heard_of_has_no_contact_email(shop: House) -> None:
    order = shop.orders.placed(unique("c"), (shop.inventory.new_product(1), 1))

    assert shop.orders.get(order["orderId"])["contactEmail"] is None
    assert "contactEmail" not in order  # only the order's own read carries the copy


async def _race(database_base: str, customer_id: str, versions: list[int]) -> Contact | None:
    """Every version written at once, in a shuffled order, through two engines (two instances)."""
    url = service_database_url(database_base, "orders")
    engines = [await Database.connect(url) for _ in range(2)]
    try:
        stores = [ContactStore(db, SystemClock()) for db in engines]
        await asyncio.gather(*(
            stores[n % 2].apply(Contact(customer_id, "Ann Lee", f"v{v}@example.com", v))
            for n, v in enumerate(versions)
        ))
        return await stores[0].find(customer_id)
    finally:
        for db in engines:
            await db.dispose()


def test_versions_written_concurrently_by_two_instances_leave_the_newest(services: Any, shop: House) -> None:
    # The order service's process has migrated the database; this writes to it as two more would.
    customer = unique("cust")
    versions = list(range(1, 21))
    random.Random(4).shuffle(versions)

    newest = asyncio.run(_race(services.database_base, customer, versions))

    assert newest == Contact(customer, "Ann Lee", "v20@example.com", 20)
