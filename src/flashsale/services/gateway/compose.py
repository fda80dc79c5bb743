"""Composed reads: an order with its customer and products, and products with their availability.

The order is essential: without it there is nothing to show (orders down: 503). The customer and
the product details are enrichments: each is fetched with its own deadline, concurrently, behind
its service's circuit breaker, and when one is slow or down the answer still goes out (200) with
that part null and marked in `parts` (`ok`, `missing` when its service has no such thing, or
`unavailable`). A composed read never fails for want of an enrichment.

Availability comes from the catalog's read model, except for a product the customer changed the
stock of a moment ago (freshness.RecentWrites): that is read from the inventory, its owner, so the
customer sees their own order's effect at once. Each availability says which `source` it came from.

Each part but the order is kept for a moment once fetched (copies.py: FLASHSALE_PARTS_KEPT_S), so
that a crowd polling its orders asks the catalog and the inventory once per moment, not once per
poll; a customer's profile for longer while its changes are heard (profiles.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from flashsale.kit.clock import Clock, iso_from_ms
from flashsale.services.gateway import freshness, metrics
from flashsale.services.gateway.copies import Copies
from flashsale.services.gateway.freshness import RecentWrites
from flashsale.services.gateway.profiles import KeptProfiles
from flashsale.services.gateway.upstream import Upstreams

log = structlog.get_logger(__name__)

OK, MISSING, UNAVAILABLE = "ok", "missing", "unavailable"
Json = dict[str, Any]
Part = tuple[Any, str]  # (value or None, outcome)


@dataclass(frozen=True)
class Reads:
    upstreams: Upstreams
    recent: RecentWrites
    clock: Clock
    part_timeout_s: float
    low_threshold: int
    # What a read fetched, kept for the next ones (copies.py): the catalog's product views, the
    # customers' profiles (profiles.py), and stock levels read from the inventory. Without: every
    # read asks.
    products: Copies[Json] = field(default_factory=lambda: Copies(0))
    profiles: KeptProfiles = field(default_factory=lambda: KeptProfiles(0, 0))
    levels: Copies[Json] = field(default_factory=lambda: Copies(0))

    async def order(self, customer_id: str, order_id: str) -> Json:
        """The customer's order with its customer and products: OrderNotFound if not theirs."""
        customer_part = asyncio.create_task(self._part("customer", lambda: self._customer(customer_id)))
        try:
            order = await self.upstreams.owned_order(customer_id, order_id)
        except Exception:
            # No such order of theirs (or no order service): the customer's read, started alongside,
            # is let finish, not cut short. A call cut short counts against its service's circuit
            # (kit/http.py), so every unknown order asked for counted one against the customers
            # service while it answered well: a few in a row opened its circuit, and sign-in,
            # sign-up and profiles answered 503 customers_unavailable to everyone for a while.
            await customer_part
            raise
        except BaseException:
            customer_part.cancel()
            raise
        product_ids = [item["productId"] for item in order.get("items", [])]
        products, products_outcome = await self._part("products", lambda: self._products(customer_id, product_ids))
        customer, customer_outcome = await customer_part
        return {"order": order, "customer": customer, "products": products,
                "parts": {"order": OK, "customer": customer_outcome, "products": products_outcome}}

    def wrote(self, customer_id: str, product_ids: list[str]) -> None:
        """The customer has just changed the stock of these products (an order placed or cancelled)."""
        self.recent.note(customer_id, [freshness.product(p) for p in product_ids], self.clock.now_ms())

    def profile_changed(self, customer_id: str) -> None:
        """The customer has just changed their profile: their next read asks for it again."""
        self.profiles.changed(customer_id, self.clock.now_ms())

    def product_changed(self, product_id: str) -> None:
        """An admin has just changed the product: the next read asks the catalog for it again."""
        self.products.outdate(product_id, self.clock.now_ms())

    async def with_availability(self, customer_id: str | None, products: list[Json]) -> list[Json]:
        """The products with each availability marked by source; the customer's recent writes
        read from the inventory."""
        await asyncio.gather(*(self._freshen(customer_id, product) for product in products))
        return products

    async def _part(self, name: str, fetch: Callable[[], Awaitable[Part]]) -> Part:
        try:
            async with asyncio.timeout(self.part_timeout_s):
                value, outcome = await fetch()
        except Exception as exc:  # noqa: BLE001 - an enrichment that fails in any way is left out, never a 500
            log.warning("part_unavailable", part=name, error=repr(exc))
            value, outcome = None, UNAVAILABLE
        metrics.parts.labels(name, outcome).inc()
        return value, outcome

    async def _customer(self, customer_id: str) -> Part:
        asked_at = self.clock.now_ms()
        kept = self.profiles.get(customer_id, asked_at)
        if kept is not None:
            return kept, OK
        answer = await self.upstreams.customers.request("GET", f"/customers/{customer_id}")
        if answer.status_code == 404:
            return None, MISSING
        answer.raise_for_status()
        profile = answer.json()
        self.profiles.put(customer_id, profile, asked_at)
        return profile, OK

    async def _products(self, customer_id: str, product_ids: list[str]) -> Part:
        """The products' views: those kept, and the others asked of the catalog in one batch."""
        asked_at = self.clock.now_ms()
        views = {p: view for p in product_ids if (view := self.products.get(p, asked_at)) is not None}
        missing = [p for p in product_ids if p not in views]
        if missing:
            answer = await self.upstreams.catalog.request(
                "POST", "/products/batch", json={"productIds": missing}, idempotent=True,
            )
            answer.raise_for_status()
            for view in answer.json()["products"]:
                self.products.put(view["productId"], view, asked_at)
                views[view["productId"]] = view
        # Each read marks its own copy of a view with the availability it shows.
        found = await self.with_availability(customer_id, [dict(views[p]) for p in product_ids if p in views])
        return {product["productId"]: product for product in found}, OK

    async def _freshen(self, customer_id: str | None, product: Json) -> None:
        catalog_view = {**product.get("availability", {}), "source": "catalog"}
        product["availability"] = catalog_view
        written_at = self.recent.written_at(customer_id, freshness.product(product["productId"]), self.clock.now_ms())
        if written_at is not None:
            product["availability"] = await self._owner_view(product["productId"], written_at) or catalog_view
        metrics.availability_reads.labels(product["availability"]["source"]).inc()

    async def _owner_view(self, product_id: str, written_at: int) -> Json | None:
        """The availability as the inventory had it after the customer's write at `written_at`
        (asked for then or since: a level kept from before it would not show it), or None when the
        inventory cannot say in time."""
        asked_at = self.clock.now_ms()
        kept = self.levels.get(product_id, asked_at, asked_since=written_at)
        if kept is not None:
            return kept
        try:
            async with asyncio.timeout(self.part_timeout_s):
                answer = await self.upstreams.inventory.request("GET", f"/inventory/{product_id}")
            answer.raise_for_status()
            available = int(answer.json()["available"])
        except Exception as exc:  # noqa: BLE001 - the catalog's view is the fallback, whatever went wrong
            log.warning("owner_read_failed", product_id=product_id, error=repr(exc))
            return None
        level = {"status": freshness.stock_status(available, self.low_threshold), "available": available,
                 "asOf": iso_from_ms(asked_at), "source": "inventory"}
        self.levels.put(product_id, level, asked_at)
        return level
