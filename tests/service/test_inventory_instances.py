"""Several inventory processes on one database (`flashsale up --inventory-instances N`), and a
coalescing process that dies in the middle of a batch.

Two processes share the database, the durable subscription to the order events and the outbox
(one relay at a time, by lease); each runs its own expiry sweeper. Each hold must still expire
once, each confirmation deduct once, and each fact be announced once. A batch of holds is
answered only after its commit: killed just before it, the process answers no one and holds
nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inventory_support import InventoryClient, events_until, order_event, publish, unique, wait_for

from flashsale.kit.envelope import Envelope
from support import plain_http

pytestmark = pytest.mark.service

SETTINGS = {"hold_strategy": "coalesced", "sweep_interval_s": "0.1"}


@pytest.fixture
def first(house: Any) -> Iterator[InventoryClient]:
    client = InventoryClient(house.shared("inventory", **SETTINGS).url, house.admin_token)
    yield client
    client.close()


@pytest.fixture
def second(house: Any, first: InventoryClient) -> Iterator[InventoryClient]:
    client = InventoryClient(house.shared("inventory", instance="2", **SETTINGS).url, house.admin_token)
    yield client
    client.close()


def announced(nats_url: str, event_type: str, reservation_ids: set[str]) -> Counter[str]:
    """How many times each reservation's `event_type` is on the INVENTORY stream, once every one is."""

    def about(read: list[Envelope]) -> Counter[str]:
        return Counter(
            str(e.data["reservationId"]) for e in read
            if e.type == event_type and e.data.get("reservationId") in reservation_ids
        )

    return about(events_until(nats_url, lambda read: set(about(read)) == reservation_ids))


def test_holds_taken_through_two_processes_expire_once_each_and_are_announced_once(
    first: InventoryClient, second: InventoryClient, nats_url: str
) -> None:
    product = first.new_product(10)
    holds = [client.hold(product, 1, ttlSeconds=1)["reservationId"] for client in (first, second) * 3]
    for reservation_id in holds:
        first.wait_status(reservation_id, "EXPIRED")
    assert first.counts(product) == second.counts(product) == (10, 0, 0)
    assert announced(nats_url, "StockReserved", set(holds)) == dict.fromkeys(holds, 1)
    assert announced(nats_url, "ReservationExpired", set(holds)) == dict.fromkeys(holds, 1)


def test_confirmations_heard_by_two_processes_deduct_once_each(
    first: InventoryClient, second: InventoryClient, nats_url: str
) -> None:
    product = first.new_product(10)
    orders = {unique("order"): client for client in (first, second) * 3}
    holds = {order: client.hold(product, 1, orderId=order)["reservationId"] for order, client in orders.items()}
    confirmations = [order_event("OrderConfirmed", {"orderId": o, "reservationId": r}) for o, r in holds.items()]
    # Each fact published twice (a retried publish): the processes share the work, and the inbox.
    publish(nats_url, *confirmations, *confirmations, concurrently=True)
    for reservation_id in holds.values():
        second.wait_status(reservation_id, "CONFIRMED")
    assert first.counts(product) == (4, 0, 6)
    assert announced(nats_url, "ReservationConfirmed", set(holds.values())) == dict.fromkeys(holds.values(), 1)


def test_a_confirmation_delivered_twice_to_two_processes_deducts_once(
    first: InventoryClient, second: InventoryClient, nats_url: str
) -> None:
    # The processes split the stream's messages, so the two copies can be handled at the same
    # moment by different processes: only the inbox keeps the effect single.
    product, order_id = first.new_product(5), unique("order")
    hold = first.hold(product, 2, orderId=order_id)
    event = order_event("OrderConfirmed", {"orderId": order_id, "reservationId": hold["reservationId"]})

    def duplicates_seen() -> float:
        labels = {"consumer": "inventory", "type": "OrderConfirmed", "outcome": "duplicate"}
        return sum(client.metric("events_consumed_total", **labels) for client in (first, second))

    duplicates = duplicates_seen()  # the other tests' copies, handled by these processes before
    publish(nats_url, event, event, concurrently=True)

    first.wait_status(hold["reservationId"], "CONFIRMED")
    wait_for(lambda: duplicates_seen() > duplicates, what="the second copy to be handled")
    assert first.counts(product) == (3, 0, 2)
    assert second.stock(product)["sold"] == 2


def test_a_process_killed_before_its_batch_commits_answers_no_one_and_holds_nothing(
    house: Any, first: InventoryClient, tmp_path: Path
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    doomed = house.start("inventory", instance="doomed", faults_dir=str(faults), **SETTINGS)
    product = first.new_product(10)
    (faults / "hold.batch_written").touch()

    async def race() -> list[httpx.Response | BaseException]:
        async with plain_http.async_client(base_url=doomed.url, timeout=30.0) as client:
            asks = [client.post("/inventory/reserve", json={"productId": product, "quantity": 1}) for _ in range(20)]
            return await asyncio.gather(*asks, return_exceptions=True)

    answers = asyncio.run(race())
    assert not (faults / "hold.batch_written").exists(), "the batch never reached its crash point"
    assert all(isinstance(answer, httpx.TransportError) for answer in answers), answers
    wait_for(lambda: not doomed.is_running(), what="the process to be dead")
    assert first.counts(product) == (10, 0, 0)
    # The surviving process carries on with the same stock.
    assert first.hold(product, 10)["items"] == [{"productId": product, "quantity": 10}]
