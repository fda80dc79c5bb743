"""Helpers for the catalog service tests: an HTTP client, inventory facts on the bus."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import nats
import nats.js.errors
from nats.js.api import ConsumerConfig, DeliverPolicy

from flashsale.kit.clock import SystemClock
from flashsale.kit.envelope import Envelope
from support import events, plain_http
from support.ids import unique
from support.metrics import metric
from support.polling import wait_for


def product_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "PlayStation 5", "priceCents": 49_999, "description": "A console.",
                            "imageUrl": "https://img.example.com/ps5.png"}
    body.update(overrides)
    return body


class CatalogClient:
    def __init__(self, target: str | httpx.Client, admin_token: str) -> None:
        """`target`: a service process's URL, or the client of an app served in-process."""
        self.http = target if isinstance(target, httpx.Client) else plain_http.client(base_url=target, timeout=10.0)
        self.url = str(self.http.base_url).rstrip("/")
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def put(self, product_id: str, body: Any, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.admin)
        return self.http.put(f"/products/{product_id}", json=body, **kwargs)

    def patch(self, product_id: str, body: Any, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.admin)
        return self.http.patch(f"/products/{product_id}", json=body, **kwargs)

    def create(self, product_id: str | None = None, **overrides: Any) -> dict[str, Any]:
        answer = self.put(product_id or unique("p"), product_body(**overrides))
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def get(self, product_id: str) -> httpx.Response:
        return self.http.get(f"/products/{product_id}")

    def product(self, product_id: str) -> dict[str, Any]:
        answer = self.get(product_id)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def availability(self, product_id: str) -> dict[str, Any]:
        return dict(self.product(product_id)["availability"])

    def wait_for_available(self, product_id: str, available: int, status: str,
                           timeout_s: float = 30.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            seen = self.availability(product_id)
            return seen if (seen["available"], seen["status"]) == (available, status) else None

        return wait_for(probe, timeout_s=timeout_s, what=f"{product_id}: {available} available ({status})")

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.http, name, **labels)

    def close(self) -> None:
        self.http.close()


def inventory_event(event_type: str, subject: str, **data: Any) -> Envelope:
    """An inventory fact as the inventory's relay publishes it (camelCase `data`)."""
    return Envelope.new(source="/flashsale/inventory", type=event_type, subject=subject, data=data,
                        now_ms=SystemClock().now_ms())


def received(product_id: str, quantity: int, available: int) -> Envelope:
    return inventory_event("StockReceived", product_id, productId=product_id, quantity=quantity,
                           available=available)


def reserved(product_id: str, quantity: int) -> Envelope:
    reservation = unique("r")
    return inventory_event("StockReserved", reservation, reservationId=reservation, orderId=None,
                           items=[{"productId": product_id, "quantity": quantity}],
                           expiresAt="2030-01-01T00:00:00.000Z")


def publish(nats_url: str, *envelopes: Envelope) -> None:
    """Publish on inventory.<Type> in order, with Nats-Msg-Id = event id, as the relay does."""
    events.publish(nats_url, "inventory", *envelopes)


def publish_twice(nats_url: str, envelope: Envelope) -> None:
    """The same event twice under different Nats-Msg-Ids: the stream keeps both (a relay replay
    after its dedupe window), so only the catalog's inbox stands between it and a double count."""
    copies = [("inventory", envelope, envelope.id), ("inventory", envelope, unique(envelope.id))]
    events.publish_messages(nats_url, copies)


async def _product_updates(nats_url: str, product_id: str, versions: int, timeout_s: float) -> list[Envelope]:
    nc = await nats.connect(nats_url)
    read: list[Envelope] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:  # the stream appears with the relay's first publish
            try:
                config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
                sub = await nc.jetstream().pull_subscribe("catalog.ProductUpdated", stream="CATALOG", config=config)
                break
            except nats.js.errors.NotFoundError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        while len(read) < versions and time.monotonic() < deadline:
            try:
                messages = await sub.fetch(batch=200, timeout=0.5)
            except TimeoutError:
                continue
            for message in messages:
                envelope = Envelope.from_bytes(message.data)
                if envelope.subject == product_id:
                    read.append(envelope)
                await message.ack()
        await sub.unsubscribe()
    finally:
        await nc.close()
    return read


def product_updates(nats_url: str, product_id: str, versions: int, timeout_s: float = 15.0) -> list[Envelope]:
    """The catalog's ProductUpdated events about a product, in order, once `versions` are out."""
    return asyncio.run(_product_updates(nats_url, product_id, versions, timeout_s))
