"""Helpers for the inventory service tests: a small HTTP client, polling, events on the bus."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import nats
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from flashsale.kit.clock import SystemClock
from flashsale.kit.envelope import Envelope
from support import events, plain_http
from support.ids import unique
from support.in_process import InProcessClient
from support.metrics import metric
from support.polling import wait_for

# The bench's baseline inventory (lock, check in Python, write), run instead of the service's own.
NAIVE_INVENTORY = "bench.naive_inventory"


def inventory_of(strategy: str) -> dict[str, Any]:
    """How the launcher starts an inventory taking holds the `strategy` way: "conditional" and
    "coalesced" are the service's own (FLASHSALE_HOLD_STRATEGY), "naive" the bench's baseline."""
    return {"module": NAIVE_INVENTORY} if strategy == "naive" else {"hold_strategy": strategy}

class InventoryClient:
    def __init__(self, target: str | httpx.Client, admin_token: str) -> None:
        """`target`: a service process's URL, or the client of an app served in-process."""
        self.http = target if isinstance(target, httpx.Client) else plain_http.client(base_url=target, timeout=10.0)
        self.url = str(self.http.base_url).rstrip("/")
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def receive(self, product_id: str, quantity: int) -> dict[str, Any]:
        answer = self.http.post(f"/inventory/{product_id}/receive", json={"quantity": quantity}, headers=self.admin)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def new_product(self, quantity: int) -> str:
        product_id = unique("p")
        self.receive(product_id, quantity)
        return product_id

    def reserve(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/inventory/reserve", json=body)

    def hold(self, product_id: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
        answer = self.reserve({"productId": product_id, "quantity": quantity, **extra})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def adjust(self, product_id: str, delta: int, reason: str = "damaged") -> httpx.Response:
        return self.http.post(
            f"/inventory/{product_id}/adjust", json={"delta": delta, "reason": reason}, headers=self.admin
        )

    def set_limit(self, product_id: str, per_customer: int) -> httpx.Response:
        return self.http.put(f"/inventory/{product_id}/limit", json={"perCustomer": per_customer}, headers=self.admin)

    def clear_limit(self, product_id: str) -> httpx.Response:
        return self.http.delete(f"/inventory/{product_id}/limit", headers=self.admin)

    def limit(self, product_id: str) -> httpx.Response:
        return self.http.get(f"/inventory/{product_id}/limit", headers=self.admin)

    def limited_product(self, quantity: int, per_customer: int) -> str:
        product_id = self.new_product(quantity)
        answer = self.set_limit(product_id, per_customer)
        assert answer.status_code == 200, answer.text
        return product_id

    def stock(self, product_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/inventory/{product_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def counts(self, product_id: str) -> tuple[int, int, int]:
        """(available, reserved, sold)"""
        stock = self.stock(product_id)
        return stock["available"], stock["reserved"], stock["sold"]

    def reservation(self, reservation_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/inventory/reservations/{reservation_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def release(self, reservation_id: str) -> httpx.Response:
        return self.http.post(f"/inventory/reservations/{reservation_id}/release")

    def wait_status(self, reservation_id: str, status: str, timeout_s: float = 15.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            view = self.reservation(reservation_id)
            return view if view["status"] == status else None

        return wait_for(probe, timeout_s=timeout_s, what=f"reservation {reservation_id} to be {status}")

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.http, name, **labels)

    def applied(self, event_type: str) -> float:
        """How many events of this type the inventory's consumer has handled (effect or not)."""
        return self.metric("events_consumed_total", consumer="inventory", type=event_type, outcome="applied")

    def close(self) -> None:
        self.http.close()


async def _burst(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with plain_http.async_client(base_url=url, timeout=60.0, limits=limits) as client:
        return await asyncio.gather(*(client.post("/inventory/reserve", json=body) for body in bodies))


def burst(target: str | httpx.Client, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send every reserve at once, each on its own connection (to a process at `target`) or
    handed to the app together (an app served in-process), and collect the answers."""
    if isinstance(target, InProcessClient):
        return target.at_once([target.build_request("POST", "/inventory/reserve", json=body) for body in bodies])
    assert isinstance(target, str), target
    return asyncio.run(_burst(target, bodies))


def order_event(event_type: str, data: dict[str, Any]) -> Envelope:
    return Envelope.new(
        source="/flashsale/orders", type=event_type, subject=str(data["orderId"]), data=data,
        now_ms=SystemClock().now_ms(),
    )


def publish(nats_url: str, *envelopes: Envelope, concurrently: bool = False) -> None:
    """Each envelope on orders.<Type>, under a Nats-Msg-Id of its own, so the stream stores
    repeats of one envelope as separate messages (a redelivery in all but name)."""
    events.publish_messages(nats_url, [("orders", e, uuid.uuid4().hex) for e in envelopes], concurrently=concurrently)


async def _inventory_stream(
    nats_url: str, until: Callable[[list[Envelope]], bool], timeout_s: float
) -> list[Envelope]:
    """Read the INVENTORY stream from its start until `until` holds for the envelopes read so far."""
    nc = await nats.connect(nats_url)
    read: list[Envelope] = []
    try:
        deadline = time.monotonic() + timeout_s
        sub = await _subscribe_from_start(nc.jetstream(), deadline)
        while not until(read) and time.monotonic() < deadline:
            try:
                messages = await sub.fetch(batch=200, timeout=0.5)
            except TimeoutError:
                continue
            for message in messages:
                read.append(Envelope.from_bytes(message.data))
                await message.ack()
        await sub.unsubscribe()
    finally:
        await nc.close()
    return read


async def _inventory_events(
    nats_url: str, reservation_id: str, wanted: set[str], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """The data of each type of event about the reservation (the last of a type), once every
    `wanted` type is out."""

    def about(read: list[Envelope]) -> dict[str, dict[str, Any]]:
        return {e.type: dict(e.data) for e in read if e.data.get("reservationId") == reservation_id}

    return about(await _inventory_stream(nats_url, lambda read: wanted <= about(read).keys(), timeout_s))


async def _subscribe_from_start(js: JetStreamContext, deadline: float) -> JetStreamContext.PullSubscription:
    # The stream appears with the relay's first publish; until then there is nothing to read.
    while True:
        try:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            return await js.pull_subscribe("inventory.>", stream="INVENTORY", config=config)
        except nats.js.errors.NotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def inventory_events(nats_url: str, reservation_id: str, wanted: set[str], timeout_s: float = 15.0) -> set[str]:
    return set(asyncio.run(_inventory_events(nats_url, reservation_id, wanted, timeout_s)))


def inventory_event_data(
    nats_url: str, reservation_id: str, wanted: set[str], timeout_s: float = 15.0
) -> dict[str, dict[str, Any]]:
    """The data of the inventory's events about a reservation, by type, once every `wanted` one is out."""
    return asyncio.run(_inventory_events(nats_url, reservation_id, wanted, timeout_s))


def events_until(nats_url: str, until: Callable[[list[Envelope]], bool], timeout_s: float = 15.0) -> list[Envelope]:
    """Every event the inventory published, in order, up to the point where `until` holds."""
    return asyncio.run(_inventory_stream(nats_url, until, timeout_s))
