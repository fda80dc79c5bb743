"""The gateway's sold-out copy across real processes (gateway, orders, catalog, inventory and the
broker): once the inventory has refused a product for want of a unit, the crowd's attempts stop
reaching it; a unit that comes back (received, or released by a cancelled order) is sold again;
and a crowd racing while units come back gets exactly the units there are, never more."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httpx
import pytest
from gateway_support import (
    Gateway,
    backends,
    bearer,
    gateway_env,
    mint,
    module_database_base,  # noqa: F401 - a fixture: SQLite only, it says why
)

from support import plain_http
from support.ids import unique
from support.metrics import page_of, total
from support.polling import wait_for

pytestmark = pytest.mark.service

CROWD = 12
RETURNS = 6


@pytest.fixture
def gateway(house: Any) -> Gateway:
    wired = backends(house)
    # Marks end by the facts in these tests, never by lapsing: on a loaded machine a test's attempts
    # may outlast the default 2 s, and the probe a lapsed mark lets through would reach the inventory.
    env = gateway_env(wired, rate_limit="1000/second", sold_out_ttl_s="60")
    gateway = Gateway(house.shared("gateway", **env), house.admin_token)
    wait_for(lambda: metric(gateway.url, "gateway_sold_out_feed_listening") == 1, timeout_s=30,
             what="the gateway to hear the inventory's facts")
    return gateway


def metric(url: str, name: str, **labels: str) -> float:
    return total(page_of(url), name, **labels)


def reserves_asked(house: Any) -> float:
    """Holds the inventory was asked for (every answer)."""
    return metric(house.shared("inventory").url, "http_request_duration_seconds_count", route="/inventory/reserve")


def orders_asked(house: Any) -> float:
    """Placements the order service was asked for (every answer)."""
    return metric(backends(house).orders.url, "http_request_duration_seconds_count", route="/orders", method="POST")


def buy(gateway: Gateway, headers: dict[str, str], product_id: str) -> httpx.Response:
    return gateway.post("/api/orders", headers=headers, json={"items": [{"productId": product_id, "quantity": 1}]})


def test_a_sold_out_product_is_refused_without_reaching_the_inventory_until_a_unit_is_received(
    gateway: Gateway, house: Any,
) -> None:
    admin = gateway.admin()
    product_id = gateway.new_product(admin, stock=1)
    ann, bob = bearer(mint(unique("c"))), bearer(mint(unique("c")))
    assert buy(gateway, ann, product_id).status_code == 201
    first = buy(gateway, bob, product_id)  # the inventory's own refusal
    asked = reserves_asked(house)

    refused = [buy(gateway, bob, product_id) for _ in range(10)]

    assert (first.status_code, first.json()["code"]) == (409, "out_of_stock")
    assert asked >= 2  # ann's hold and bob's refusal were the inventory's
    assert all((r.status_code, r.json()["code"]) == (409, "out_of_stock") for r in refused)
    assert reserves_asked(house) == asked  # none of them reached the inventory
    received = gateway.post(f"/api/admin/inventory/{product_id}/receive", headers=admin, json={"quantity": 1})
    assert received.status_code == 200
    sold = wait_for(lambda: buy(gateway, bob, product_id).status_code == 201, timeout_s=10,
                    what="the received unit to be sold")
    assert sold


def test_the_door_refuses_only_what_the_route_would_refuse_the_same_way(gateway: Gateway, house: Any) -> None:
    """A refusal at the door (in front of the app) is the route's own 409 problem, counted as the
    route's; an attempt it must not judge goes on to the route: without a token, with a body the
    route refuses, with an Idempotency-Key (forwarded to the order service, which keeps keys, and
    refused there by the copy's word: nor does it reach the inventory)."""
    product_id = gateway.new_product(gateway.admin(), stock=1)
    ann, bob = bearer(mint(unique("c"))), bearer(mint(unique("c")))
    assert buy(gateway, ann, product_id).status_code == 201
    assert buy(gateway, bob, product_id).status_code == 409  # the inventory's refusal marks the product
    counted = metric(gateway.url, "http_request_duration_seconds_count", route="/api/orders", status="409")
    asked = reserves_asked(house)
    placements = orders_asked(house)

    at_door = buy(gateway, bob, product_id)
    counted_after = metric(gateway.url, "http_request_duration_seconds_count", route="/api/orders", status="409")
    unsigned = gateway.post("/api/orders", json={"items": [{"productId": product_id, "quantity": 1}]})
    invalid = gateway.post("/api/orders", headers=bob, json={"items": [{"productId": product_id, "quantity": 0}]})
    keyed = gateway.post("/api/orders", headers={**bob, "Idempotency-Key": unique("k")},
                         json={"items": [{"productId": product_id, "quantity": 1}]})

    assert at_door.status_code == 409 and at_door.headers["content-type"].startswith("application/problem+json")
    assert {k: at_door.json()[k] for k in ("code", "status", "title", "instance")} == {
        "code": "out_of_stock", "status": 409, "title": "Out of stock", "instance": "/api/orders"}
    assert counted_after == counted + 1
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "unauthenticated")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_request")
    assert (keyed.status_code, keyed.json()["code"]) == (409, "out_of_stock")
    assert orders_asked(house) == placements + 1  # the keyed attempt, and only it, reached the order service
    assert reserves_asked(house) == asked  # and none the inventory


def test_a_keyed_attempt_keeps_its_first_answer_whatever_the_copy_says_since(gateway: Gateway, house: Any) -> None:
    """A keyed attempt the copy refuses is refused by the order service, which keeps the key: asked
    again once units are back, it is refused again (its first answer), and a key granted before
    the product sold out is granted again (the same order), not refused."""
    admin = gateway.admin()
    product_id = gateway.new_product(admin, stock=1)
    ann, bob = bearer(mint(unique("c"))), bearer(mint(unique("c")))
    ann_key, bob_key = {**ann, "Idempotency-Key": unique("k")}, {**bob, "Idempotency-Key": unique("k")}
    granted = buy(gateway, ann_key, product_id)
    assert granted.status_code == 201
    assert buy(gateway, bob, product_id).status_code == 409  # the inventory's refusal marks the product
    asked = reserves_asked(house)

    refused = buy(gateway, bob_key, product_id)
    granted_again = buy(gateway, ann_key, product_id)
    asked_while_marked = reserves_asked(house)
    heard = metric(gateway.url, "gateway_units_back_heard_total")
    received = gateway.post(f"/api/admin/inventory/{product_id}/receive", headers=admin, json={"quantity": 1})
    assert received.status_code == 200
    wait_for(lambda: metric(gateway.url, "gateway_units_back_heard_total") > heard, timeout_s=10,
             what="the gateway to hear of the received unit (which lifts the product's mark)")
    refused_again = buy(gateway, bob_key, product_id)
    bought = buy(gateway, {**bob, "Idempotency-Key": unique("k")}, product_id)

    assert (refused.status_code, refused.json()["code"]) == (409, "out_of_stock")
    assert asked_while_marked == asked  # neither attempt reached the inventory
    assert (granted_again.status_code, granted_again.json()["orderId"]) == (201, granted.json()["orderId"])
    assert (refused_again.status_code, refused_again.json()["code"]) == (409, "out_of_stock")
    assert bought.status_code == 201  # the unit was there to be had: the refusal was the key's, not the stock's


def test_a_unit_released_by_a_cancelled_order_is_sold_again(gateway: Gateway) -> None:
    product_id = gateway.new_product(gateway.admin(), stock=1)
    ann, bob = bearer(mint(unique("c"))), bearer(mint(unique("c")))
    order = buy(gateway, ann, product_id).json()
    assert buy(gateway, bob, product_id).status_code == 409

    cancelled = gateway.post(f"/api/orders/{order['orderId']}/cancel", headers=ann)

    assert cancelled.status_code == 200, cancelled.text
    assert wait_for(lambda: buy(gateway, bob, product_id).status_code == 201, timeout_s=10,
                    what="the released unit to be sold")


def test_a_crowd_racing_while_units_come_back_gets_every_unit_and_never_more(gateway: Gateway, house: Any) -> None:
    admin = gateway.admin()
    product_id = gateway.new_product(admin, stock=2)
    crowd = [bearer(mint(unique("c"))) for _ in range(CROWD)]
    answers = asyncio.run(_race(gateway, admin, product_id, crowd))

    placed = [a for a in answers if a.status_code == 201]
    assert {a.status_code for a in answers} <= {201, 409}, {a.status_code for a in answers}
    stock = plain_http.get(f"{house.shared('inventory').url}/inventory/{product_id}", timeout=10).json()
    assert (stock["available"], stock["reserved"] + stock["sold"]) == (0, 2 + RETURNS)  # every unit sold ...
    assert len(placed) == 2 + RETURNS  # ... to exactly one order each


async def _race(gateway: Gateway, admin: dict[str, str], product_id: str,
                crowd: list[dict[str, str]]) -> list[httpx.Response]:
    """The crowd buys until every unit has been sold; meanwhile one unit comes back at a time, each
    once every unit before it is gone (so the crowd has just been refused, and the copy marked it)."""
    answers: list[httpx.Response] = []
    sold = asyncio.Condition()
    body = {"items": [{"productId": product_id, "quantity": 1}]}
    total = 2 + RETURNS

    def placed() -> int:
        return sum(1 for a in answers if a.status_code == 201)

    def placed_at_least(n: int) -> bool:
        return placed() >= n

    async with plain_http.async_client(base_url=gateway.url, timeout=30) as http:

        async def returns() -> None:
            for returned in range(RETURNS):
                async with sold:
                    await sold.wait_for(functools.partial(placed_at_least, 2 + returned))
                received = await http.post(f"/api/admin/inventory/{product_id}/receive", headers=admin,
                                           json={"quantity": 1})
                assert received.status_code == 200

        async def buyer(headers: dict[str, str]) -> None:
            while placed() < total:
                answers.append(await http.post("/api/orders", headers=headers, json=body))
                async with sold:
                    sold.notify_all()

        await asyncio.wait_for(asyncio.gather(returns(), *(buyer(h) for h in crowd)), timeout=90)
    return answers
