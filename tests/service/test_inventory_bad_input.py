"""No request, however malformed, gets a 5xx or moves stock: it gets a 4xx problem with a `code`.
In-process: these are rules of one app's API."""

from __future__ import annotations

from typing import Any

import pytest
from inventory_support import InventoryClient, unique

from support.in_process import InProcessHouse
from support.problems import PROBLEM_JSON, assert_problem

pytestmark = pytest.mark.service


@pytest.fixture
def inventory(in_process: InProcessHouse) -> InventoryClient:
    return InventoryClient(in_process.shared("inventory").http, in_process.admin_token)


def reserve_bodies(product: str) -> list[tuple[Any, int, str]]:
    """(JSON body, status, code) for reserve requests that must be refused."""
    line = {"productId": product, "quantity": 1}
    return [
        ({"productId": product, "quantity": "1"}, 422, "invalid_request"),
        ({"productId": product, "quantity": [1]}, 422, "invalid_request"),
        ({"productId": product, "quantity": None}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1.0}, 422, "invalid_request"),
        ({"productId": product, "quantity": True}, 422, "invalid_request"),
        ({"productId": product, "quantity": 0}, 422, "invalid_request"),
        ({"productId": product, "quantity": -1}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1001}, 422, "invalid_request"),
        ({"productId": product, "quantity": 10**30}, 422, "invalid_request"),
        ({"productId": product}, 422, "invalid_request"),
        ({"quantity": 1}, 422, "invalid_request"),
        ({"productId": 42, "quantity": 1}, 422, "invalid_request"),
        ({"productId": None, "quantity": 1}, 422, "invalid_request"),
        ({"productId": "", "quantity": 1}, 422, "invalid_request"),
        ({"productId": "has space", "quantity": 1}, 422, "invalid_request"),
        ({"productId": "x" * 101, "quantity": 1}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "items": [line]}, 422, "invalid_request"),
        ({"items": []}, 422, "invalid_request"),
        ({"items": line}, 422, "invalid_request"),
        ({"items": [line, line]}, 422, "invalid_request"),
        ({"items": [{"productId": product, "quantity": 1001}]}, 422, "invalid_request"),
        ({"items": [line] + [{"productId": f"{product}-{i}", "quantity": 1} for i in range(50)]}, 422,
         "invalid_request"),
        ({"productId": product, "quantity": 1, "ttlSeconds": 0}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "ttlSeconds": 86_401}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "ttlSeconds": "60"}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "orderId": ""}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "unexpected": True}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "fulfilment": "some"}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "fulfilment": None}, 422, "invalid_request"),
        ({"productId": product, "quantity": 1, "fulfilment": 1}, 422, "invalid_request"),
        ([line], 422, "invalid_request"),
        (None, 422, "invalid_request"),
        ("reserve please", 422, "invalid_request"),
        ({"productId": unique("unknown"), "quantity": 1}, 404, "unknown_product"),
    ]


def test_malformed_reserve_requests_are_refused_and_hold_nothing(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    before = inventory.stock(product)
    for body, status, code in reserve_bodies(product):
        assert_problem(inventory.http.post("/inventory/reserve", json=body), status, code, body)
    assert inventory.stock(product) == before


UNPARSEABLE = {
    "truncated": b'{"productId": "p", "quantity": 1',
    "empty": b"",
    "text": b"not json",
    "overflowing-number": b'{"productId": "p", "quantity": 1e400}',
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "invalid-utf8": b'{"productId": "\xff\xfe", "quantity": 1}',
}


def test_unparseable_bodies_get_a_4xx_problem(inventory: InventoryClient) -> None:
    for case, raw in UNPARSEABLE.items():
        answer = inventory.http.post("/inventory/reserve", content=raw, headers={"content-type": "application/json"})
        assert 400 <= answer.status_code < 500, f"{case}: {answer.status_code} {answer.text}"
        assert answer.headers["content-type"].startswith(PROBLEM_JSON), case
        assert answer.json()["code"], case


def test_bad_receive_and_adjust_requests_change_no_stock(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    before = inventory.stock(product)
    cases: list[tuple[str, Any, int, str]] = [
        ("receive", {"quantity": 0}, 422, "invalid_request"),
        ("receive", {"quantity": -3}, 422, "invalid_request"),
        ("receive", {"quantity": 10**9 + 1}, 422, "invalid_request"),
        ("receive", {"quantity": "5"}, 422, "invalid_request"),
        ("receive", {}, 422, "invalid_request"),
        ("adjust", {"delta": 0, "reason": "recount"}, 422, "invalid_request"),
        ("adjust", {"delta": -1}, 422, "invalid_request"),
        ("adjust", {"delta": -1, "reason": ""}, 422, "invalid_request"),
        ("adjust", {"delta": "-1", "reason": "damaged"}, 422, "invalid_request"),
        ("adjust", {"delta": -(10**9) - 1, "reason": "damaged"}, 422, "invalid_request"),
        ("adjust", {"delta": -6, "reason": "damaged"}, 409, "insufficient_stock"),
    ]
    for action, body, status, code in cases:
        answer = inventory.http.post(f"/inventory/{product}/{action}", json=body, headers=inventory.admin)
        assert_problem(answer, status, code, (action, body))
    assert inventory.stock(product) == before


def test_admin_calls_need_the_admin_token(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    before = inventory.stock(product)
    calls = [("receive", {"quantity": 1}), ("adjust", {"delta": -1, "reason": "damaged"})]
    for action, body in calls:
        for headers, status, code in [
            ({}, 401, "unauthorized"),
            ({"Authorization": "Bearer not-the-token"}, 403, "forbidden"),
            ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "unauthorized"),
        ]:
            answer = inventory.http.post(f"/inventory/{product}/{action}", json=body, headers=headers)
            assert_problem(answer, status, code, (action, headers))
    new_product = unique("p")
    assert_problem(inventory.http.post(f"/inventory/{new_product}/receive", json={"quantity": 1}), 401,
                   "unauthorized", "create without token")
    assert inventory.stock(product) == before
    assert_problem(inventory.http.get(f"/inventory/{new_product}"), 404, "unknown_product", "never created")


def test_bad_limit_requests_change_no_limit(inventory: InventoryClient) -> None:
    product = inventory.limited_product(5, per_customer=2)
    path = f"/inventory/{product}/limit"
    for body in [{"perCustomer": 0}, {"perCustomer": -1}, {"perCustomer": "2"}, {"perCustomer": 2.0},
                 {"perCustomer": True}, {"perCustomer": 1_000_001}, {}, {"perCustomer": 2, "extra": 1}, [2], None]:
        assert_problem(inventory.http.put(path, json=body, headers=inventory.admin), 422, "invalid_request", body)
    for method in ("GET", "PUT", "DELETE"):
        body = {"perCustomer": 9} if method == "PUT" else None
        for headers, status, code in [({}, 401, "unauthorized"), ({"Authorization": "Bearer nope"}, 403, "forbidden")]:
            answer = inventory.http.request(method, path, json=body, headers=headers)
            assert_problem(answer, status, code, (method, headers))
    assert inventory.limit(product).json() == {"productId": product, "perCustomer": 2}
    assert_problem(inventory.http.get("/inventory/bad%20id/limit", headers=inventory.admin), 422,
                   "invalid_request", "bad id")


def test_unknown_products_and_reservations_are_404(inventory: InventoryClient) -> None:
    missing = unique("missing")
    assert_problem(inventory.http.get(f"/inventory/{missing}"), 404, "unknown_product", "get")
    adjust = inventory.http.post(
        f"/inventory/{missing}/adjust", json={"delta": 1, "reason": "found"}, headers=inventory.admin
    )
    assert_problem(adjust, 404, "unknown_product", "adjust")
    assert_problem(inventory.http.get(f"/inventory/reservations/{missing}"), 404, "unknown_reservation", "get")
    assert_problem(
        inventory.http.post(f"/inventory/reservations/{missing}/release"), 404, "unknown_reservation", "release"
    )
    assert_problem(inventory.http.get("/inventory/bad%20id"), 422, "invalid_request", "bad id")


def test_bad_listing_queries_are_refused(inventory: InventoryClient) -> None:
    queries: list[tuple[str, dict[str, str | int]]] = [
        ("/inventory", {"limit": 0}),
        ("/inventory", {"limit": 1001}),
        ("/inventory", {"limit": "many"}),
        ("/inventory/reservations", {"status": "LOST"}),
        ("/inventory/reservations", {"after": "x" * 101}),
    ]
    for path, params in queries:
        answer = inventory.http.get(path, params=params, headers=inventory.admin)
        assert_problem(answer, 422, "invalid_request", (path, params))
