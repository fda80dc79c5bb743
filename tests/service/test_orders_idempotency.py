"""Idempotency-Key on POST /orders and POST /orders/{id}/pay (docs/contract.md#orders)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from orders_support import start_house, unique

from support import plain_http

pytestmark = pytest.mark.service


def test_a_replayed_order_request_answers_the_first_answer_and_creates_one_order(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(5)
    customer, key = unique("c"), unique("key")

    first = house.orders.place(customer, (product, 1), key=key)
    replay = house.orders.place(customer, (product, 1), key=key)
    other_body = house.orders.place(customer, (product, 2), key=key)

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert replay.headers["idempotent-replayed"] == "true"  # said, so a caller does not take it for news
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")
    assert len(house.orders.of_customer(customer)) == 1
    assert house.inventory.counts(product) == (4, 1, 0)


def test_a_refusal_is_an_answer_and_is_replayed_too(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(1)
    customer, key = unique("c"), unique("key")

    refused = house.orders.place(customer, (product, 2), key=key)
    house.inventory.receive(product, 5)  # now it would succeed, but the key keeps its first answer
    replay = house.orders.place(customer, (product, 2), key=key)

    assert refused.status_code == replay.status_code == 409
    assert replay.json() == refused.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert house.orders.of_customer(customer) == []


def test_an_attempt_the_gateway_holds_sold_out_is_refused_without_a_hold_and_its_key_keeps_that(
    services: Any,
) -> None:
    """`Flashsale-Sold-Out` (the gateway's sold-out copy): 409 out_of_stock as the inventory would
    say it, nothing held; the key keeps the answer though the stock was there all along. A product
    the order does not hold is no reason to refuse it."""
    house, _ = start_house(services)
    product = house.inventory.new_product(5)
    customer, key = unique("c"), unique("key")
    body = {"customerId": customer, "items": [{"productId": product, "quantity": 1}]}

    refused = house.orders.http.post("/orders", json=body, headers={"Idempotency-Key": key,
                                                                    "Flashsale-Sold-Out": product})
    replay = house.orders.place(customer, (product, 1), key=key)
    elsewhere = house.orders.http.post("/orders", json=body, headers={"Flashsale-Sold-Out": unique("p")})

    assert (refused.status_code, refused.json()["code"]) == (409, "out_of_stock")
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (replay.status_code, replay.json()) == (409, refused.json())
    assert elsewhere.status_code == 201
    assert house.inventory.counts(product) == (4, 1, 0)  # only the last one held a unit


def test_a_replayed_pay_request_answers_the_first_answer_without_paying_again(services: Any) -> None:
    house, _ = start_house(services)
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))
    key = unique("key")

    first = house.orders.pay(order["orderId"], "tok_ok", key=key)
    replay = house.orders.pay(order["orderId"], "tok_ok", key=key)
    other_body = house.orders.pay(order["orderId"], "tok_declined", key=key)

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")
    house.orders.wait_status(order["orderId"], "COMPLETED")
    assert house.ledger_kinds(order["orderId"]) == ["AUTHORISED", "CAPTURED"]


def test_a_replayed_declined_pay_answers_the_decline_again_even_with_another_card_after(services: Any) -> None:
    """A declined pay's answer is its key's, stored with the decline: the replay is that 402 (said
    to be a replay), the order cancelled and its unit back once."""
    house, _ = start_house(services)
    product = house.inventory.new_product(1)
    order = house.orders.placed(unique("c"), (product, 1))
    key = unique("key")

    declined = house.orders.pay(order["orderId"], "tok_declined", key=key)
    replay = house.orders.pay(order["orderId"], "tok_declined", key=key)
    other_card = house.orders.pay(order["orderId"], "tok_ok", key=unique("key"))

    assert (declined.status_code, declined.json()["code"]) == (402, "payment_declined")
    assert (replay.status_code, replay.json(), replay.headers.get("Idempotent-Replayed")) == (
        402, declined.json(), "true")
    assert "Idempotent-Replayed" not in declined.headers
    assert (other_card.status_code, other_card.json()["code"]) == (409, "invalid_state")
    assert house.orders.get(order["orderId"])["statusReason"] == "payment_declined"
    assert house.inventory.counts(product) == (1, 0, 0)


def test_two_concurrent_requests_with_one_key_create_one_order(services: Any) -> None:
    house, _ = start_house(services)
    product = house.inventory.new_product(5)
    customer, key = unique("c"), unique("key")
    body = {"customerId": customer, "items": [{"productId": product, "quantity": 1}]}

    async def twice() -> list[httpx.Response]:
        async with plain_http.async_client(base_url=house.orders.url, timeout=30) as client:
            return list(await asyncio.gather(*(
                client.post("/orders", json=body, headers={"Idempotency-Key": key}) for _ in range(2)
            )))

    answers = sorted(asyncio.run(twice()), key=lambda r: r.status_code)

    assert answers[0].status_code == 201
    second = answers[1]
    assert second.status_code in (201, 409), second.text
    if second.status_code == 409:
        assert second.json()["code"] == "request_in_progress"
    else:
        assert second.json() == answers[0].json()
    assert len(house.orders.of_customer(customer)) == 1
    assert house.inventory.counts(product) == (4, 1, 0)


def test_two_concurrent_pays_with_one_key_charge_once(services: Any) -> None:
    house, _ = start_house(services)
    order = house.orders.placed(unique("c"), (house.inventory.new_product(1), 1))
    key = unique("key")

    async def twice() -> list[httpx.Response]:
        async with plain_http.async_client(base_url=house.orders.url, timeout=30) as client:
            return list(await asyncio.gather(*(
                client.post(f"/orders/{order['orderId']}/pay", json={"paymentToken": "tok_slow"},
                            headers={"Idempotency-Key": key})
                for _ in range(2)
            )))

    codes = sorted((r.status_code, r.json().get("code")) for r in asyncio.run(twice()))

    assert codes == [(200, None), (409, "request_in_progress")]
    assert house.orders.get(order["orderId"])["status"] in ("PAID", "COMPLETED")
    house.orders.wait_status(order["orderId"], "COMPLETED")
    assert house.ledger_kinds(order["orderId"]) == ["AUTHORISED", "CAPTURED"]
