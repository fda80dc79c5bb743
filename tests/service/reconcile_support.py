"""Helpers for the read-model reconciliation tests: faults injected straight into a service's
database (a corrupt row, an event marked as handled that never was), and the inventory and
catalog seen through their HTTP APIs."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.schema import inbox, outbox
from support import plain_http
from support.polling import wait_for

availability = sa.table(
    "availability", sa.column("product_id"), sa.column("available"), sa.column("as_of_ms"), sa.column("last_event_id")
)


class ServiceDatabase:
    """Direct SQL on one service's database: fault injection only, never how a service is read."""

    def __init__(self, database_base: str, service: str) -> None:
        self.url = service_database_url(database_base, service)

    def run(self, *statements: sa.Executable) -> list[Any]:
        async def go() -> list[Any]:
            db = await Database.connect(self.url, pool_size=1)
            try:
                async with db.transaction() as conn:
                    return [await conn.execute(s) for s in statements]
            finally:
                await db.dispose()

        return asyncio.run(go())

    def rows(self, query: sa.Select[Any]) -> list[Any]:
        async def go() -> list[Any]:
            db = await Database.connect(self.url, pool_size=1)
            try:
                async with db.read() as conn:
                    return list((await conn.execute(query)).all())
            finally:
                await db.dispose()

        return asyncio.run(go())


class CatalogFaults(ServiceDatabase):
    def __init__(self, database_base: str) -> None:
        super().__init__(database_base, "catalog")

    def set_available(self, product_id: str, available: int) -> None:
        self.run(availability.update().where(availability.c.product_id == product_id).values(available=available))

    def forget(self, product_id: str) -> None:
        self.run(availability.delete().where(availability.c.product_id == product_id))

    def mark_handled(self, event_ids: list[str]) -> None:
        """The catalog's inbox says it applied these events; it never did: when they arrive it
        skips them, as if the broker had lost them."""
        now = SystemClock().now_ms()
        self.run(*(inbox.insert().values(consumer="catalog", message_id=e, processed_at_ms=now) for e in event_ids))


def inventory_events_about(database_base: str, product_id: str) -> list[str]:
    """Ids of the events the inventory wrote to its outbox that name this (unique) product."""
    rows = ServiceDatabase(database_base, "inventory").rows(
        sa.select(outbox.c.event_id).where(outbox.c.envelope.contains(f'"{product_id}"')).order_by(outbox.c.position)
    )
    return [row.event_id for row in rows]


class Stockroom:
    """The inventory and the catalog side by side, through their APIs."""

    def __init__(self, inventory_url: str, catalog_url: str, admin_token: str) -> None:
        self.inventory = plain_http.client(base_url=inventory_url, timeout=30.0)
        self.catalog = plain_http.client(base_url=catalog_url, timeout=60.0)
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def close(self) -> None:
        self.inventory.close()
        self.catalog.close()

    def receive(self, product_id: str, quantity: int) -> None:
        answer = self.inventory.post(f"/inventory/{product_id}/receive", json={"quantity": quantity},
                                     headers=self.admin)
        assert answer.status_code == 200, answer.text

    def reserve(self, product_id: str, quantity: int) -> str | None:
        answer = self.inventory.post("/inventory/reserve", json={"productId": product_id, "quantity": quantity})
        assert answer.status_code in (200, 409), answer.text
        return str(answer.json()["reservationId"]) if answer.status_code == 200 else None

    def release(self, reservation_id: str) -> None:
        answer = self.inventory.post(f"/inventory/reservations/{reservation_id}/release")
        assert answer.status_code == 200, answer.text

    def adjust(self, product_id: str, delta: int) -> None:
        answer = self.inventory.post(f"/inventory/{product_id}/adjust", json={"delta": delta, "reason": "damaged"},
                                     headers=self.admin)
        assert answer.status_code == 200, answer.text

    def stock(self, product_id: str) -> int:
        answer = self.inventory.get(f"/inventory/{product_id}")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["available"])

    def listed(self, product_id: str) -> None:
        body = {"name": product_id, "priceCents": 1000, "description": "for reconciliation"}
        answer = self.catalog.put(f"/products/{product_id}", json=body, headers=self.admin)
        assert answer.status_code in (200, 201), answer.text

    def availability(self, product_id: str) -> dict[str, Any]:
        answer = self.catalog.get(f"/products/{product_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["availability"])

    def agrees(self, product_id: str) -> bool:
        return self.availability(product_id)["available"] == self.stock(product_id)

    def wait_until_agree(self, *product_ids: str, timeout_s: float = 30.0) -> None:
        for product_id in product_ids:
            wait_for(lambda p=product_id: self.agrees(p), timeout_s=timeout_s,  # type: ignore[misc]
                     what=f"catalog availability of {product_id} == inventory stock")

    def reconcile(self) -> dict[str, int]:
        answer = self.catalog.post("/catalog/reconcile", headers=self.admin)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def reconcile_until_settled(self, timeout_s: float = 30.0) -> dict[str, int]:
        """Rounds until one defers nothing (events in flight settle); returns the counts summed."""
        total = {"processed": 0, "fixed": 0, "deferred": 0}

        def settled() -> bool:
            done = self.reconcile()
            total["processed"] = done["processed"]
            total["fixed"] += done["fixed"]
            total["deferred"] = done["deferred"]
            return done["deferred"] == 0

        wait_for(settled, timeout_s=timeout_s, what="a reconciliation round with nothing deferred")
        return total

    def product_count(self) -> int:
        count, after = 0, None
        while True:
            page = self.inventory.get("/inventory", params={"limit": 1000, **({"after": after} if after else {})},
                                      headers=self.admin).json()
            count += len(page["products"])
            after = page["next"]
            if after is None:
                return count
