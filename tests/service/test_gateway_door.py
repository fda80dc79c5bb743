"""A signed-in buyer's buy attempt and payment answered at the gateway's door (door.py, in front of
its FastAPI app) are the routes' own answers: the same statuses and bodies, an Idempotency-Key's
answer given again alike, another customer's order refused alike, each counted under its route;
what the door does not take (a query, a body the routes refuse, no token) is the routes' answer."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_support import (
    Gateway,
    backends,
    gateway_env,
    module_database_base,  # noqa: F401 - a fixture: SQLite only, it says why
)

from support.metrics import page_of, total

pytestmark = pytest.mark.service

ROUTE = {"via": "route"}  # a query: the door passes the request on to the route


def counted(gateway: Gateway, route: str) -> float:
    return total(page_of(gateway.url), "http_request_duration_seconds_count", route=route, method="POST")


def test_a_buy_and_a_payment_at_the_door_are_the_routes_own_answers(house: Any) -> None:
    gateway = Gateway(house.shared("gateway", **gateway_env(backends(house))), house.admin_token)
    product_id = gateway.new_product(gateway.admin(), stock=4)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")
    order = {"items": [{"productId": product_id, "quantity": 1}]}
    keyed = {**ann.headers, "Idempotency-Key": "buy-1"}
    before = counted(gateway, "/api/orders"), counted(gateway, "/api/orders/{orderId}/pay")

    at_door = gateway.post("/api/orders", headers=keyed, json=order)
    again = gateway.post("/api/orders", headers=keyed, json=order)
    by_route = gateway.post("/api/orders", headers=ann.headers, params=ROUTE, json=order)
    paid_at_door = gateway.post(f"/api/orders/{at_door.json()['orderId']}/pay", headers=ann.headers,
                                json={"paymentToken": "tok_ok"})
    paid_by_route = gateway.post(f"/api/orders/{by_route.json()['orderId']}/pay", headers=ann.headers, params=ROUTE,
                                 json={"paymentToken": "tok_ok"})
    bobs_at_door = gateway.post(f"/api/orders/{by_route.json()['orderId']}/pay", headers=bob.headers,
                                json={"paymentToken": "tok_ok"})
    bobs_by_route = gateway.post(f"/api/orders/{by_route.json()['orderId']}/pay", headers=bob.headers, params=ROUTE,
                                 json={"paymentToken": "tok_ok"})
    refused = gateway.post("/api/orders", headers=ann.headers, json={"items": []})
    unsigned = gateway.post("/api/orders", json=order)

    assert (at_door.status_code, by_route.status_code) == (201, 201), (at_door.text, by_route.text)
    assert at_door.json().keys() == by_route.json().keys()
    assert at_door.json()["items"] == by_route.json()["items"]
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (201, at_door.json(), "true")
    assert (paid_at_door.status_code, paid_by_route.status_code) == (200, 200)
    assert paid_at_door.json()["status"] == paid_by_route.json()["status"] == "PAID"
    for refusal in (bobs_at_door, bobs_by_route):
        assert (refusal.status_code, refusal.json()["code"]) == (404, "order_not_found")
    assert bobs_at_door.json()["detail"] == bobs_by_route.json()["detail"]
    assert (refused.status_code, unsigned.status_code) == (422, 401)
    assert counted(gateway, "/api/orders") - before[0] == 5
    assert counted(gateway, "/api/orders/{orderId}/pay") - before[1] == 4
