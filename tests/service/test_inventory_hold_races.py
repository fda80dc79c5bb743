"""The race for the last units, run against every hold strategy (FLASHSALE_HOLD_STRATEGY): the
conditional UPDATE, the coalesced batches and the bench's naive lock-then-write baseline
(bench/naive_inventory.py) must all sell
each unit to exactly one buyer, through one process or several sharing the database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from inventory_support import InventoryClient, burst, inventory_of, unique

from support import plain_http

pytestmark = pytest.mark.service

STRATEGIES = ("conditional", "coalesced", "naive")


@pytest.fixture(params=STRATEGIES)
def strategy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def inventory(house: Any, strategy: str) -> Iterator[InventoryClient]:
    client = InventoryClient(house.shared("inventory", **inventory_of(strategy)).url, house.admin_token)
    yield client
    client.close()


@pytest.fixture
def second_instance(house: Any, strategy: str, inventory: InventoryClient) -> Iterator[InventoryClient]:
    """Another process of the same strategy on the same database (after the first: it migrated it)."""
    client = InventoryClient(house.shared("inventory", instance="2", **inventory_of(strategy)).url, house.admin_token)
    yield client
    client.close()


def race_across(urls: list[str], bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send every reserve at once, each on its own connection, to the processes in turn."""

    async def race() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(bodies))
        async with plain_http.async_client(timeout=60.0, limits=limits) as client:
            return await asyncio.gather(
                *(client.post(f"{urls[n % len(urls)]}/inventory/reserve", json=body) for n, body in enumerate(bodies))
            )

    return asyncio.run(race())


def granted(answers: list[httpx.Response]) -> list[dict[str, Any]]:
    return [a.json() for a in answers if a.status_code == 200]


def assert_refusals_are_out_of_stock(answers: list[httpx.Response]) -> None:
    assert {a.json()["code"] for a in answers if a.status_code != 200} <= {"out_of_stock"}


def assert_books_balance(inventory: InventoryClient, product: str) -> None:
    stock = inventory.stock(product)
    assert min(stock["available"], stock["reserved"], stock["sold"]) >= 0
    assert stock["available"] + stock["reserved"] + stock["sold"] == stock["received"] - stock["writtenOff"]


def test_the_last_unit_goes_to_exactly_one_of_sixty_buyers(inventory: InventoryClient) -> None:
    product = inventory.new_product(1)
    answers = burst(inventory.url, [{"productId": product, "quantity": 1}] * 60)
    assert Counter(a.status_code for a in answers) == {200: 1, 409: 59}
    assert_refusals_are_out_of_stock(answers)
    assert inventory.counts(product) == (0, 1, 0)


def test_a_hundred_buyers_race_for_five_units_and_five_win(inventory: InventoryClient) -> None:
    product = inventory.new_product(5)
    answers = burst(inventory.url, [{"productId": product, "quantity": 1}] * 100)
    assert Counter(a.status_code for a in answers) == {200: 5, 409: 95}
    assert_refusals_are_out_of_stock(answers)
    assert len({hold["reservationId"] for hold in granted(answers)}) == 5
    assert inventory.counts(product) == (0, 5, 0)


def test_buyers_of_different_quantities_never_get_more_than_there_is(inventory: InventoryClient) -> None:
    product = inventory.new_product(20)
    answers = burst(inventory.url, [{"productId": product, "quantity": 1 + n % 3} for n in range(60)])
    assert_refusals_are_out_of_stock(answers)
    held = sum(hold["items"][0]["quantity"] for hold in granted(answers))
    available, reserved, _ = inventory.counts(product)
    assert reserved == held <= 20
    # A refusal means the buyer's quantity was not there: at most 2 units (a refused 3) are left over.
    assert available == 20 - held <= 2
    for hold in granted(answers)[:5]:
        assert inventory.reservation(hold["reservationId"])["items"] == hold["items"]


def test_partial_buyers_share_out_every_unit(inventory: InventoryClient) -> None:
    product = inventory.new_product(13)
    bodies = [{"items": [{"productId": product, "quantity": 3}], "fulfilment": "partial"}] * 30
    answers = burst(inventory.url, bodies)
    assert_refusals_are_out_of_stock(answers)
    quantities = sorted(hold["items"][0]["quantity"] for hold in granted(answers))
    # 4 buyers get 3, one gets the last unit, the rest get nothing.
    assert quantities == [1] + [3] * 4
    assert inventory.counts(product) == (0, 13, 0)


def test_multi_item_and_single_holds_racing_sell_each_unit_once(inventory: InventoryClient) -> None:
    left, right = inventory.new_product(6), inventory.new_product(6)
    both = {"items": [{"productId": left, "quantity": 1}, {"productId": right, "quantity": 1}]}
    bodies: list[dict[str, Any]] = [both, {"productId": left, "quantity": 1}, {"productId": right, "quantity": 1}] * 20
    answers = burst(inventory.url, bodies)
    assert_refusals_are_out_of_stock(answers)
    holds = granted(answers)
    per_product = Counter(item["productId"] for hold in holds for item in hold["items"])
    assert per_product == {left: 6, right: 6}
    assert inventory.counts(left) == (0, 6, 0)
    assert inventory.counts(right) == (0, 6, 0)


def test_concurrent_reserves_for_one_order_share_one_hold(inventory: InventoryClient) -> None:
    product = inventory.new_product(10)
    order_id = unique("order")
    answers = burst(inventory.url, [{"productId": product, "quantity": 3, "orderId": order_id}] * 20)
    assert {a.status_code for a in answers} == {200}
    assert len({hold["reservationId"] for hold in granted(answers)}) == 1
    assert inventory.counts(product) == (7, 3, 0)


def test_retries_among_holds_that_all_fit_get_their_orders_hold_and_take_stock_once(
    inventory: InventoryClient,
) -> None:
    # Plenty of stock: a coalesced batch would fit whole, but some of its holds repeat an order
    # that already holds stock, or each other. Each order still holds its units once.
    product = inventory.new_product(100)
    early = unique("order")
    first = inventory.hold(product, 2, orderId=early)["reservationId"]
    fresh = [unique("order") for _ in range(15)]
    bodies = [{"productId": product, "quantity": 2 if o == early else 1, "orderId": o} for o in [early, *fresh] * 2]
    answers = burst(inventory.url, bodies)
    assert {a.status_code for a in answers} == {200}
    holds = {(hold["orderId"], hold["reservationId"]) for hold in granted(answers)}
    assert len(holds) == 16  # one reservation per order, whichever copy of its request won
    assert (early, first) in holds
    assert inventory.counts(product) == (100 - 2 - 15, 2 + 15, 0)


def test_orders_racing_for_the_last_units_each_get_one_answer_and_retries_their_hold(
    inventory: InventoryClient,
) -> None:
    product = inventory.new_product(3)
    orders = [unique("order") for _ in range(30)]
    # Every order asks twice at once (a client retrying early): one hold per winning order.
    answers = burst(inventory.url, [{"productId": product, "quantity": 1, "orderId": o} for o in orders * 2])
    assert_refusals_are_out_of_stock(answers)
    winners = {hold["orderId"]: hold["reservationId"] for hold in granted(answers)}
    assert len(winners) == 3
    assert len({hold["reservationId"] for hold in granted(answers)}) == 3
    # A retry once everything is gone still gets the order's hold.
    for order_id, reservation_id in winners.items():
        assert inventory.hold(product, 1, orderId=order_id)["reservationId"] == reservation_id
    assert inventory.counts(product) == (0, 3, 0)


def test_two_processes_on_one_database_sell_five_units_to_exactly_five_buyers(
    inventory: InventoryClient, second_instance: InventoryClient
) -> None:
    product = inventory.new_product(5)
    answers = race_across([inventory.url, second_instance.url], [{"productId": product, "quantity": 1}] * 100)
    assert Counter(a.status_code for a in answers) == {200: 5, 409: 95}
    assert_refusals_are_out_of_stock(answers)
    assert inventory.counts(product) == second_instance.counts(product) == (0, 5, 0)
    assert_books_balance(inventory, product)
