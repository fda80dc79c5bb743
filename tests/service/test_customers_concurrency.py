"""Racing requests: one email goes to exactly one customer, and no change is lost or doubled."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from customers_support import CustomersClient, new_customer, unique

from support import plain_http

pytestmark = pytest.mark.service


RACERS = 20


def race(url: str, requests: list[tuple[str, str, Any, dict[str, str]]]) -> list[httpx.Response]:
    """Send every (method, path, body, headers) at once, each on its own connection."""

    async def send_all() -> list[httpx.Response]:
        clients = [plain_http.async_client(base_url=url, timeout=30.0) for _ in requests]
        try:
            return list(await asyncio.gather(*(
                client.request(method, path, json=body, headers=headers)
                for client, (method, path, body, headers) in zip(clients, requests, strict=True)
            )))
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))

    return asyncio.run(send_all())


def test_of_many_customers_racing_for_one_email_exactly_one_gets_it(customers: CustomersClient) -> None:
    email = f"{unique('shared')}@example.com"
    spellings = [email, email.upper(), email.capitalize(), email.lower()]
    bodies = [new_customer(email=spellings[i % len(spellings)]) for i in range(RACERS)]

    answers = race(customers.url, [("POST", "/customers", body, {}) for body in bodies])

    assert Counter(a.status_code for a in answers) == {201: 1, 409: RACERS - 1}, [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"email_taken"}
    winner = next(a.json() for a in answers if a.status_code == 201)
    listed = [c for c in customers.page(limit=1000).json()["customers"] if c["email"].lower() == email.lower()]
    assert listed == [winner]


def test_racing_changes_each_get_their_own_version(customers: CustomersClient) -> None:
    customer_id = customers.created()["customerId"]

    answers = race(customers.url, [
        ("PATCH", f"/customers/{customer_id}", {"name": f"Name {i}"}, {}) for i in range(RACERS)
    ])

    assert [a.status_code for a in answers] == [200] * RACERS, [a.text for a in answers if a.status_code != 200]
    assert sorted(a.json()["version"] for a in answers) == list(range(2, RACERS + 2))
    final = customers.get(customer_id).json()
    assert final["version"] == RACERS + 1
    assert final == next(a.json() for a in answers if a.json()["version"] == RACERS + 1)


def test_of_changes_racing_from_one_version_exactly_one_applies(customers: CustomersClient) -> None:
    customer_id = customers.created()["customerId"]

    answers = race(customers.url, [
        ("PATCH", f"/customers/{customer_id}", {"name": f"Name {i}"}, {"If-Match": '"1"'}) for i in range(RACERS)
    ])

    assert Counter(a.status_code for a in answers) == {200: 1, 412: RACERS - 1}, [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert winner["version"] == 2
    assert customers.get(customer_id).json() == winner
