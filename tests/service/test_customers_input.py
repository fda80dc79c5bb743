"""No request to the customers service, however malformed, gets a 5xx or changes anything:
it gets a 4xx problem with a `code`."""

from __future__ import annotations

from typing import Any

import pytest
from customers_support import CustomersClient, address, new_customer, unique

from support.in_process import InProcessHouse
from support.problems import PROBLEM_JSON, assert_problem

pytestmark = pytest.mark.service


@pytest.fixture
def customers(in_process: InProcessHouse) -> CustomersClient:
    """The module's customers app, in-process (in place of tests/service/conftest.py's process)."""
    return CustomersClient(in_process.shared("customers").http, in_process.admin_token)


BAD_EMAILS = ["", "ann", "ann@", "@example.com", "ann@example", "ann lee@example.com", "ann@@example.com",
              "ann@example..com", "änn@example.com", " ann@example.com", f"{'a' * 250}@example.com", 42, None]
BAD_ADDRESSES: list[Any] = [
    address(country="ZZ"), address(country="UK"), address(country="de"), address(country="DEU"),
    address(country=""), address(line1=""), address(city=""), address(postalCode=""),
    address(postalCode="1" * 21), address(line1="x" * 201), address(planet="Earth"),
    {"line1": "1 Main St", "city": "Berlin", "postalCode": "10115"}, "1 Main St, Berlin", None, [],
]


def create_bodies() -> list[Any]:
    """Bodies of POST /customers that must be refused with 422 invalid_request."""
    good = new_customer()
    without = [{k: v for k, v in good.items() if k != field} for field in good]
    return [
        *without,
        *(good | {"email": email} for email in BAD_EMAILS),
        *(good | {"address": bad} for bad in BAD_ADDRESSES),
        good | {"customerId": ""}, good | {"customerId": "bad id!"}, good | {"customerId": "x" * 101},
        good | {"customerId": 7}, good | {"name": ""}, good | {"name": "   "}, good | {"name": "n" * 201},
        good | {"name": None}, good | {"version": 5}, good | {"password": "hunter2"},
        [good], None, "customer", 42, {},
    ]


def test_malformed_create_requests_are_refused_and_create_nothing(customers: CustomersClient) -> None:
    for body in create_bodies():
        assert_problem(customers.create(body), 422, "invalid_request", body)
    assert customers.page().json()["customers"] == []


def patch_bodies() -> list[Any]:
    """Bodies of PATCH /customers/{id} that must be refused with 422 invalid_request."""
    return [
        *({"email": email} for email in BAD_EMAILS),
        *({"address": bad} for bad in BAD_ADDRESSES),
        {"name": None}, {"name": ""}, {"name": "  "}, {"address": None},
        {"address": {"country": "FR"}},  # an address is replaced whole, never merged
        {"version": 9}, {"customerId": "someone-else"}, {"nickname": "A"},
        [], None, "name", 42,
    ]


def test_malformed_changes_are_refused_and_change_nothing(customers: CustomersClient) -> None:
    customer = customers.created()
    for body in patch_bodies():
        assert_problem(customers.patch(customer["customerId"], body), 422, "invalid_request", body)
    assert customers.get(customer["customerId"]).json() == customer


UNPARSEABLE = [b'{"customerId": "c-1", "name": ', b"", b"not json", b"\xff\xfe", b"{'name': 'Ann'}"]


def test_unparseable_bodies_are_400(customers: CustomersClient) -> None:
    customer = customers.created()
    json_header = {"Content-Type": "application/json"}
    for raw in UNPARSEABLE:
        created = customers.http.post("/customers", content=raw, headers=json_header)
        patched = customers.http.patch(f"/customers/{customer['customerId']}", content=raw, headers=json_header)
        for answer in (created, patched):
            assert 400 <= answer.status_code < 500, f"{raw!r}: {answer.status_code} {answer.text}"
            assert answer.headers["content-type"].startswith(PROBLEM_JSON), raw
    assert customers.get(customer["customerId"]).json() == customer


NOT_VERSIONS = ["", "abc", '"0"', "-1", 'W/"1"', "1.0", "*", "1, 2", "9" * 12]


def test_an_if_match_that_is_no_version_is_400(customers: CustomersClient) -> None:
    customer = customers.created()
    for if_match in NOT_VERSIONS:
        answer = customers.patch(customer["customerId"], {"name": "Changed"}, if_match=if_match)
        assert_problem(answer, 400, "invalid_if_match", if_match)
    assert customers.get(customer["customerId"]).json() == customer


def test_bad_ids_and_paging_parameters_are_4xx(customers: CustomersClient) -> None:
    for path in ("/customers/bad%20id", f"/customers/{'x' * 101}", "/customers/-dash"):
        assert_problem(customers.http.get(path), 422, "invalid_request", path)
        assert_problem(customers.http.patch(path, json={"name": "X"}), 422, "invalid_request", path)
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"after": "x" * 101}):
        assert_problem(customers.page(**params), 422, "invalid_request", params)
    assert_problem(customers.http.delete(f"/customers/{unique('c')}"), 405, "method_not_allowed", "DELETE")
