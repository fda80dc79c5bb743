"""Customer profiles: created once, read back, changed in versions; emails belong to one customer."""

from __future__ import annotations

from typing import Any

import pytest
from customers_support import CustomersClient, address, new_customer, unique

from support.in_process import InProcessHouse

pytestmark = pytest.mark.service


@pytest.fixture
def customers(in_process: InProcessHouse) -> CustomersClient:
    """The module's customers app, in-process (in place of tests/service/conftest.py's process)."""
    return CustomersClient(in_process.shared("customers").http, in_process.admin_token)


def test_a_created_customer_reads_back_as_version_1(customers: CustomersClient) -> None:
    body = new_customer(address=address(line2="Flat 3", country="GB", city="London", postalCode="N1 9GU"))
    created = customers.create(body)

    assert created.status_code == 201, created.text
    fetched = customers.get(body["customerId"])
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    view = fetched.json()
    assert {k: view[k] for k in ("customerId", "name", "email", "address")} == body
    assert view["version"] == 1
    assert view["createdAt"] == view["updatedAt"]
    assert fetched.headers["etag"] == '"1"'


def test_an_unknown_customer_is_404(customers: CustomersClient) -> None:
    for answer in (customers.get(unique("nobody")), customers.patch(unique("nobody"), {"name": "X"})):
        assert answer.status_code == 404
        assert answer.json()["code"] == "unknown_customer"


def test_each_change_is_a_new_version_and_changes_only_what_it_names(customers: CustomersClient) -> None:
    customer = customers.created()
    customer_id = customer["customerId"]

    renamed = customers.patch(customer_id, {"name": "Ann Lee-Smith"})
    moved = customers.patch(customer_id, {"address": address(line1="2 Side St", postalCode="10117")})
    emailed = customers.patch(customer_id, {"email": f"new-{customer_id}@example.org"})

    assert [a.status_code for a in (renamed, moved, emailed)] == [200, 200, 200]
    assert [a.json()["version"] for a in (renamed, moved, emailed)] == [2, 3, 4]
    final = customers.get(customer_id).json()
    assert final == emailed.json()
    assert final["name"] == "Ann Lee-Smith"
    assert final["address"] == address(line1="2 Side St", postalCode="10117")
    assert final["email"] == f"new-{customer_id}@example.org"
    assert final["createdAt"] == customer["createdAt"]


def test_a_change_to_the_values_already_there_keeps_the_version(customers: CustomersClient) -> None:
    customer = customers.created()
    customer_id = customer["customerId"]
    updated_before = customers.metric("customers_updated_total")

    for same in ({}, {"name": customer["name"]}, {"email": customer["email"], "address": customer["address"]}):
        answer = customers.patch(customer_id, same)
        assert answer.status_code == 200, answer.text
        assert answer.json() == customer, same
    assert customers.metric("customers_updated_total") == updated_before


def test_a_stale_if_match_is_refused_and_changes_nothing(customers: CustomersClient) -> None:
    customer_id = customers.created()["customerId"]
    assert customers.patch(customer_id, {"name": "Second"}, if_match='"1"').json()["version"] == 2

    stale = customers.patch(customer_id, {"name": "Lost update"}, if_match='"1"')

    assert stale.status_code == 412, stale.text
    assert stale.json()["code"] == "version_mismatch"
    assert stale.json()["currentVersion"] == 2
    assert customers.get(customer_id).json()["name"] == "Second"
    current = customers.patch(customer_id, {"name": "Third"}, if_match="2")
    assert current.status_code == 200 and current.json()["version"] == 3
    assert current.headers["etag"] == '"3"'


def test_a_customer_id_is_created_once(customers: CustomersClient) -> None:
    first = customers.created()

    again = customers.create(new_customer(first["customerId"], email=f"other-{unique('e')}@example.com"))

    assert again.status_code == 409
    assert again.json()["code"] == "customer_exists"
    assert customers.get(first["customerId"]).json() == first


def test_an_email_belongs_to_one_customer_whatever_its_case(customers: CustomersClient) -> None:
    owner = customers.created(email=f"{unique('Ann')}@Example.com")

    for spelling in (owner["email"], owner["email"].upper(), owner["email"].lower()):
        taken = customers.create(new_customer(email=spelling))
        assert taken.status_code == 409, spelling
        assert taken.json()["code"] == "email_taken"
        assert owner["customerId"] not in taken.text  # who owns an email is not told
    other = customers.created()
    moved_onto = customers.patch(other["customerId"], {"email": owner["email"].lower()})
    assert moved_onto.status_code == 409 and moved_onto.json()["code"] == "email_taken"
    assert customers.get(other["customerId"]).json() == other


def test_a_customer_may_respell_their_own_email_and_free_the_old_one(customers: CustomersClient) -> None:
    owner = customers.created()
    old = owner["email"]

    respelled = customers.patch(owner["customerId"], {"email": old.upper()})
    assert respelled.status_code == 200 and respelled.json()["version"] == 2
    changed = customers.patch(owner["customerId"], {"email": f"{unique('new')}@example.com"})
    assert changed.status_code == 200

    assert customers.create(new_customer(email=old)).status_code == 201


def test_the_admin_listing_pages_through_every_customer(customers: CustomersClient) -> None:
    made = sorted(customers.created()["customerId"] for _ in range(5))

    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({} if after is None else {"after": after})
        answer = customers.page(**params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["customers"]) <= 2
        seen += [c["customerId"] for c in page["customers"]]
        after = page["next"]
        if after is None:
            break

    # Other tests of this module share the database: theirs are listed too, in order.
    assert seen == sorted(set(seen))
    assert [c for c in seen if c in made] == made


def test_the_admin_listing_needs_the_admin_token(customers: CustomersClient) -> None:
    assert customers.http.get("/customers").status_code == 401
    wrong = customers.http.get("/customers", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "forbidden"
