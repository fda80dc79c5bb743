"""Helpers for the tests of the order service's contact copy: CustomerUpdated on the bus, the copy
read through the admin API, and faults injected straight into the orders database."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa

from flashsale.kit.bus import Bus
from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.envelope import Envelope
from support import plain_http
from support.ids import unique
from support.polling import wait_for


def customer_updated(customer_id: str, version: int, *, email: str | None = None, name: str = "Ann Lee") -> Envelope:
    """A CustomerUpdated as the customers service's relay publishes it."""
    data = {"customerId": customer_id, "version": version, "name": name,
            "email": email or f"v{version}-{customer_id}@example.com",
            "address": {"line1": "1 Main St", "line2": None, "city": "Berlin", "postalCode": "10115",
                        "country": "DE"}}
    return Envelope.new(source="customers", type="CustomerUpdated", subject=customer_id, data=data,
                        now_ms=SystemClock().now_ms(), correlation_id=customer_id)


async def _publish(nats_url: str, messages: list[tuple[Envelope, str]]) -> None:
    bus = Bus(nats_url, name=unique("test-customers"))
    await bus.connect(attempts=20)
    try:
        await bus.ensure_stream("customers")
        for envelope, msg_id in messages:
            await bus.publish_raw(f"customers.{envelope.type}", envelope.to_bytes(), {"Nats-Msg-Id": msg_id})
    finally:
        await bus.close()


def publish(nats_url: str, *messages: Envelope | tuple[Envelope, str]) -> None:
    """Publish in the order given. A bare envelope goes out under its own id; an (envelope, msg id)
    pair under another one, so the stream keeps a repeat the way a relay replay would."""
    pairs = [m if isinstance(m, tuple) else (m, m.id) for m in messages]
    asyncio.run(_publish(nats_url, pairs))


class ContactCopy:
    """The order service's copy of customers' contacts, read through its admin endpoint."""

    def __init__(self, orders_url: str, admin_token: str) -> None:
        self.url = orders_url
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def get(self, customer_id: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.admin)
        return plain_http.get(f"{self.url}/orders/customer-contacts/{customer_id}", timeout=10, **kwargs)

    def contact(self, customer_id: str) -> dict[str, Any] | None:
        answer = self.get(customer_id)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def wait_version(self, customer_id: str, version: int, timeout_s: float = 20.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = self.contact(customer_id)
            return found if found is not None and found["version"] == version else None

        return wait_for(probe, timeout_s=timeout_s, what=f"the copy of {customer_id} at version {version}")

    def reconcile(self) -> httpx.Response:
        return plain_http.post(f"{self.url}/orders/reconcile", headers=self.admin, timeout=60)


async def _execute(database_base: str, statement: str, params: dict[str, Any]) -> int:
    db = await Database.connect(service_database_url(database_base, "orders"), pool_size=1)
    try:
        async with db.transaction() as conn:
            result = await conn.execute(sa.text(statement), params)
            return int(result.rowcount)
    finally:
        await db.dispose()


def tamper(database_base: str, statement: str, **params: Any) -> None:
    """Fault injection: change the orders database behind the service's back (one row, or fail)."""
    changed = asyncio.run(_execute(database_base, statement, params))
    assert changed == 1, f"{statement} changed {changed} rows"
