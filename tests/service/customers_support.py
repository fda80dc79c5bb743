"""Helpers for the customers service tests: a small HTTP client, request bodies, and the
CUSTOMERS stream read back."""

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

__all__ = ["CustomersClient", "about", "address", "customer_events", "new_customer", "unique"]


def address(**fields: Any) -> dict[str, Any]:
    return {"line1": "1 Main St", "line2": None, "city": "Berlin", "postalCode": "10115", "country": "DE",
            **fields}


def new_customer(customer_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid create body with a unique id and email, overridden by `fields`."""
    customer_id = customer_id or unique("cust")
    return {"customerId": customer_id, "name": "Ann Lee", "email": f"{customer_id}@example.com",
            "address": address(), **fields}


class CustomersClient:
    def __init__(self, target: str | httpx.Client, admin_token: str) -> None:
        """`target`: a service process's URL, or the client of an app served in-process."""
        self.http = target if isinstance(target, httpx.Client) else plain_http.client(base_url=target, timeout=15.0)
        self.url = str(self.http.base_url).rstrip("/")
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def create(self, body: Any) -> httpx.Response:
        return self.http.post("/customers", json=body)

    def created(self, **fields: Any) -> dict[str, Any]:
        answer = self.create(new_customer(**fields))
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def get(self, customer_id: str) -> httpx.Response:
        return self.http.get(f"/customers/{customer_id}")

    def patch(self, customer_id: str, body: Any, *, if_match: str | None = None) -> httpx.Response:
        headers = {} if if_match is None else {"If-Match": if_match}
        return self.http.patch(f"/customers/{customer_id}", json=body, headers=headers)

    def page(self, **params: Any) -> httpx.Response:
        return self.http.get("/customers", params=params, headers=self.admin)

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.http, name, **labels)

    def close(self) -> None:
        self.http.close()


EnvelopeTest = Callable[[Envelope], bool]


def customer_events(nats_url: str, until: EnvelopeTest, timeout_s: float = 20.0) -> list[Envelope]:
    """Every event on the CUSTOMERS stream, from its start up to and including the first that
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
                assert message.subject == f"customers.{seen[-1].type}", message.subject
                if until(seen[-1]):
                    await sub.unsubscribe()
                    return seen
        raise AssertionError(f"the awaited customers event never arrived within {timeout_s}s")
    finally:
        await nc.close()


async def _subscribe_from_start(js: JetStreamContext, deadline: float) -> JetStreamContext.PullSubscription:
    # The stream appears with the relay's first publish; until then there is nothing to read.
    while True:
        try:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            return await js.pull_subscribe("customers.>", stream="CUSTOMERS", config=config)
        except nats.js.errors.NotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def about(customer_id: str, version: int) -> EnvelopeTest:
    return lambda e: e.subject == customer_id and e.data.get("version") == version
