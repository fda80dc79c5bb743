"""Customer accounts: sign-up with a password, sign-in by email and password, passwords set by an
admin. Passwords are kept as argon2id hashes and never come back out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from customers_support import CustomersClient, customer_events, new_customer, unique

from support.in_process import InProcessHouse

pytestmark = pytest.mark.service

PASSWORD = "correct horse battery"


@pytest.fixture
def customers(in_process: InProcessHouse) -> CustomersClient:
    """The module's customers app, in-process (in place of tests/service/conftest.py's process)."""
    return CustomersClient(in_process.shared("customers").http, in_process.admin_token)


def register(customers: CustomersClient, password: str = PASSWORD, **fields: Any) -> httpx.Response:
    return customers.http.post("/customers/registrations", json={**new_customer(**fields), "password": password})


def sign_in(customers: CustomersClient, email: str, password: str) -> httpx.Response:
    return customers.http.post("/customers/authenticate", json={"email": email, "password": password})


def test_a_registered_customer_signs_in_with_their_password_in_any_case_of_email(customers: CustomersClient) -> None:
    registered = register(customers)
    assert registered.status_code == 201, registered.text
    profile = registered.json()

    for email in (profile["email"], profile["email"].upper()):
        answer = sign_in(customers, email, PASSWORD)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"customerId": profile["customerId"]}
    assert "password" not in str(customers.get(profile["customerId"]).json()).lower()


def test_a_wrong_password_and_an_unknown_email_get_the_same_401(customers: CustomersClient) -> None:
    profile = register(customers).json()

    wrong = sign_in(customers, profile["email"], PASSWORD + "!")
    unknown = sign_in(customers, f"{unique('nobody')}@example.com", PASSWORD)

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_registration_is_announced_like_any_new_customer(customers: CustomersClient, nats_url: str) -> None:
    profile = register(customers).json()

    events = customer_events(nats_url, lambda e: e.subject == profile["customerId"])

    assert events[-1].type == "CustomerUpdated"
    assert events[-1].data["version"] == 1
    assert "password" not in str(events[-1].data).lower()


@pytest.mark.parametrize("password", ["short", " " * 12, "x" * 129])
def test_a_weak_password_is_refused_and_no_customer_is_created(customers: CustomersClient, password: str) -> None:
    body = new_customer()

    answer = customers.http.post("/customers/registrations", json={**body, "password": password})

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] in ("weak_password", "invalid_request")
    assert customers.get(body["customerId"]).status_code == 404


def test_the_email_itself_is_no_password(customers: CustomersClient) -> None:
    body = new_customer()

    answer = customers.http.post("/customers/registrations", json={**body, "password": body["email"].upper()})

    assert answer.status_code == 422
    assert answer.json()["code"] == "weak_password"


def test_a_taken_email_registers_nobody(customers: CustomersClient) -> None:
    first = register(customers).json()

    second = register(customers, email=first["email"].upper())

    assert second.status_code == 409
    assert second.json()["code"] == "email_taken"
    assert sign_in(customers, first["email"], PASSWORD).json()["customerId"] == first["customerId"]


def test_an_admin_sets_a_password_for_a_customer_who_had_none(customers: CustomersClient) -> None:
    customer = customers.created()
    assert sign_in(customers, customer["email"], PASSWORD).status_code == 401

    path = f"/customers/{customer['customerId']}/password"
    assert customers.http.post(path, json={"password": PASSWORD}).status_code == 401
    forged = customers.http.post(path, json={"password": PASSWORD}, headers={"Authorization": "Bearer nope"})
    assert forged.status_code == 403
    assert customers.http.post(path, json={"password": PASSWORD}, headers=customers.admin).status_code == 204

    assert sign_in(customers, customer["email"], PASSWORD).json()["customerId"] == customer["customerId"]
    changed = customers.http.post(path, json={"password": "another long one"}, headers=customers.admin)
    assert changed.status_code == 204
    assert sign_in(customers, customer["email"], PASSWORD).status_code == 401
    assert sign_in(customers, customer["email"], "another long one").status_code == 200


def test_a_password_for_an_unknown_customer_is_404(customers: CustomersClient) -> None:
    answer = customers.http.post(f"/customers/{unique('nobody')}/password", json={"password": PASSWORD},
                                 headers=customers.admin)

    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_customer"
