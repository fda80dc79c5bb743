"""Helpers for the shipping service tests: a small HTTP client and the SHIPPING stream read back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import nats
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from flashsale.kit.envelope import Envelope
from support import plain_http
from support.ids import unique
from support.metrics import metric

__all__ = ["ShippingClient", "about", "items", "shipping_events", "unique"]


def items(*lines: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"productId": product_id, "quantity": quantity} for product_id, quantity in lines]


class ShippingClient:
    def __init__(self, target: str | httpx.Client, admin_token: str) -> None:
        """`target`: a service process's URL, or the client of an app served in-process."""
        self.http = target if isinstance(target, httpx.Client) else plain_http.client(base_url=target, timeout=15.0)
        self.url = str(self.http.base_url).rstrip("/")
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def schedule(self, order_id: str, lines: list[dict[str, Any]]) -> httpx.Response:
        return self.http.post("/shipments", json={"orderId": order_id, "items": lines})

    def cancel(self, order_id: str) -> httpx.Response:
        return self.http.post(f"/shipments/{order_id}/cancel")

    def get(self, order_id: str) -> httpx.Response:
        return self.http.get(f"/shipments/{order_id}")

    def set_shippable(self, product_id: str, shippable: bool) -> dict[str, Any]:
        answer = self.http.put(f"/shipping/products/{product_id}", json={"shippable": shippable}, headers=self.admin)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def shippable(self, product_id: str) -> bool:
        answer = self.http.get(f"/shipping/products/{product_id}", headers=self.admin)
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["shippable"])

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.http, name, **labels)

    def close(self) -> None:
        self.http.close()


EnvelopeTest = Callable[[Envelope], bool]


def shipping_events(nats_url: str, until: EnvelopeTest, timeout_s: float = 20.0) -> list[Envelope]:
    """Every event on the SHIPPING stream, from its start up to and including the first that
    satisfies `until`. The relay publishes the outbox in commit order, so anything committed
    before that event is in the list too: the way to show an event was *not* written."""
    return asyncio.run(_read_until(nats_url, until, timeout_s))


async def _read_until(nats_url: str, until: EnvelopeTest, timeout_s: float) -> list[Envelope]:
    nc = await nats.connect(nats_url)
    seen: list[Envelope] = []
    try:
        deadline = time.monotonic() + timeout_s
        sub = await _subscribe_from_start(nc.jetstream(), deadline)
        while time.monotonic() < deadline:
            try:
                messages = await sub.fetch(batch=200, timeout=0.5)
            except TimeoutError:
                continue
            for message in messages:
                await message.ack()
                seen.append(Envelope.from_bytes(message.data))
                assert message.subject == f"shipping.{seen[-1].type}", message.subject
                if until(seen[-1]):
                    await sub.unsubscribe()
                    return seen
        raise AssertionError(f"the awaited shipping event never arrived within {timeout_s}s")
    finally:
        await nc.close()


async def _subscribe_from_start(js: JetStreamContext, deadline: float) -> JetStreamContext.PullSubscription:
    # The stream appears with the relay's first publish; until then there is nothing to read.
    while True:
        try:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            return await js.pull_subscribe("shipping.>", stream="SHIPPING", config=config)
        except nats.js.errors.NotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def about(order_id: str, event_type: str) -> EnvelopeTest:
    return lambda e: e.type == event_type and e.data.get("orderId") == order_id
