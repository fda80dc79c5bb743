"""No request to the order service, however malformed, gets a 5xx; listing everything is admin-only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from orders_support import start_house, unique

from support import plain_http
from support.metrics import page_of, total

pytestmark = pytest.mark.service


BAD_ORDERS: list[object] = [
    {},
    {"customerId": "c-1"},
    {"customerId": "c-1", "items": []},
    {"customerId": "c-1", "items": [{"productId": "p", "quantity": 0}]},
    {"customerId": "c-1", "items": [{"productId": "p", "quantity": 1001}]},
    {"customerId": "c-1", "items": [{"productId": "p", "quantity": "1"}]},
    {"customerId": "c-1", "items": [{"productId": "bad id", "quantity": 1}]},
    {"customerId": "c-1", "items": [{"productId": "p", "quantity": 1}, {"productId": "p", "quantity": 2}]},
    {"customerId": "", "items": [{"productId": "p", "quantity": 1}]},
    {"customerId": "c-1", "items": [{"productId": "p", "quantity": 1}], "extra": True},
    {"customerId": "c-1", "items": "PS5"},
    [],
    None,
]


def _is_problem(response: httpx.Response) -> bool:
    return (
        400 <= response.status_code < 500
        and response.headers["content-type"].startswith("application/problem+json")
        and bool(response.json().get("code"))
    )


def test_malformed_requests_get_a_4xx_problem_on_every_endpoint(services: Any) -> None:
    house, _ = start_house(services)
    url = house.orders.url
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))["orderId"]
    answers = [plain_http.post(f"{url}/orders", json=body) for body in BAD_ORDERS]
    answers += [
        plain_http.post(f"{url}/orders", content=b"{nope", headers={"content-type": "application/json"}),
        plain_http.post(f"{url}/orders", json={"customerId": "c", "items": [{"productId": "p", "quantity": 1}]},
                   headers={"Idempotency-Key": "k" * 201}),
        plain_http.post(f"{url}/orders/{order}/pay", json={}),
        plain_http.post(f"{url}/orders/{order}/pay", json={"paymentToken": ""}),
        plain_http.post(f"{url}/orders/{order}/pay", json={"paymentToken": 7}),
        plain_http.post(f"{url}/orders/{order}/pay", content=b"[", headers={"content-type": "application/json"}),
        plain_http.post(f"{url}/orders/no%20such/pay", json={"paymentToken": "tok_ok"}),
        plain_http.post(f"{url}/orders/unknown-order/pay", json={"paymentToken": "tok_ok"}),
        plain_http.post(f"{url}/orders/unknown-order/cancel"),
        plain_http.get(f"{url}/orders/unknown-order"),
        plain_http.get(f"{url}/orders/{'x' * 300}"),
        plain_http.get(f"{url}/orders", params={"customerId": "bad id"}),
        plain_http.get(f"{url}/orders", params={"customerId": "c-1", "status": "LOST"}),
        plain_http.get(f"{url}/orders", params={"customerId": "c-1", "limit": 0}),
        plain_http.get(f"{url}/orders", params={"customerId": "c-1", "limit": "many"}),
        plain_http.delete(f"{url}/orders/{order}"),
    ]

    assert [a.status_code for a in answers if not _is_problem(a)] == []
    assert plain_http.get(f"{url}/orders/unknown-order").json()["code"] == "unknown_order"
    assert house.orders.get(order)["status"] == "PENDING_PAYMENT"  # none of that touched it


def test_a_read_of_an_order_answered_in_front_of_the_app_is_the_apps_own_answer(services: Any) -> None:
    house, _ = start_house(services)
    url = house.orders.url
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))["orderId"]
    counted = _reads_counted(url)

    polled = plain_http.get(f"{url}/orders/{order}")  # a buyer's poll: answered by hot_routes.py
    by_route = plain_http.get(f"{url}/orders/{order}", params={"via": "route"})  # FastAPI's route answers it
    unknown = plain_http.get(f"{url}/orders/unknown-order")

    assert polled.status_code == by_route.status_code == 200, polled.text
    assert polled.json() == by_route.json() and polled.json()["orderId"] == order
    assert "contactEmail" in polled.json()
    assert polled.headers["content-type"] == by_route.headers["content-type"] == "application/json"
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_order")
    assert _reads_counted(url) - counted == 3  # every read counted under its route, whichever answered it


def _reads_counted(url: str) -> float:
    return total(page_of(url), "http_request_duration_seconds_count", route="/orders/{orderId}", method="GET")


def test_customers_see_their_orders_newest_first_and_only_an_admin_sees_every_order(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(3)
    customer = unique("c")
    older = house.orders.placed(customer, (product, 1))["orderId"]
    newer = house.orders.placed(customer, (product, 1))["orderId"]
    someone_elses = house.orders.placed(unique("c"), (product, 1))["orderId"]
    url, admin = house.orders.url, house.orders.admin

    anonymous = plain_http.get(f"{url}/orders")
    wrong = plain_http.get(f"{url}/orders", headers={"Authorization": "Bearer wrong"})
    every = _every_page(url, admin, {"limit": 2})
    paid_only = _every_page(url, admin, {"status": "PAID"})

    assert [o["orderId"] for o in house.orders.of_customer(customer)] == [newer, older]
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "forbidden")
    # Other tests of this module share the database: their orders are listed too, in order.
    listed = [o["orderId"] for o in every]
    assert listed == sorted(set(listed))
    assert [o for o in listed if o in (older, newer, someone_elses)] == sorted([older, newer, someone_elses])
    assert {o["status"] for o in paid_only} <= {"PAID"}
    assert not {o["orderId"] for o in paid_only} & {older, newer, someone_elses}


def _every_page(url: str, admin: dict[str, str], params: dict[str, Any]) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    while True:
        page = plain_http.get(f"{url}/orders", params=params, headers=admin).json()
        orders += page["orders"]
        if page["next"] is None:
            return orders
        params = {**params, "after": page["next"]}
