"""Where an order line's name and price come from, asked before any stock is held.

With a catalog configured, the catalog's listing of each product at order time: a product it does
not list, or whose sale window is not open, is refused before the hold, so a refusal takes
nothing. Without one, every unit costs the configured fixed price and lines carry no name.
Either way the order keeps what it was told (a snapshot): later catalog changes never reprice it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from flashsale.kit.clock import Clock
from flashsale.services.orders import domain
from flashsale.services.orders.clients import CatalogClient
from flashsale.services.orders.domain import Offer, Snapshot
from flashsale.services.orders.errors import NotInCatalog, OrderError, SaleClosed, SaleNotOpen

REFUSALS: dict[Offer, Callable[[str], OrderError]] = {
    Offer.UNLISTED: NotInCatalog,
    Offer.NOT_OPEN: SaleNotOpen,
    Offer.CLOSED: SaleClosed,
}


class PriceList(Protocol):
    async def snapshots(self, product_ids: Sequence[str]) -> dict[str, Snapshot]:
        """Each product's snapshot, or the error that refuses the order."""
        ...


class FixedPrice:
    def __init__(self, unit_price_cents: int) -> None:
        self.unit_price_cents = unit_price_cents

    async def snapshots(self, product_ids: Sequence[str]) -> dict[str, Snapshot]:
        return {product_id: Snapshot(None, self.unit_price_cents) for product_id in product_ids}


class CatalogPrices:
    def __init__(self, catalog: CatalogClient, clock: Clock) -> None:
        self.catalog = catalog
        self.clock = clock

    async def snapshots(self, product_ids: Sequence[str]) -> dict[str, Snapshot]:
        listings = await self.catalog.listings(product_ids)  # DependencyUnavailable: 503, no hold
        refusal = domain.first_refusal(product_ids, listings, self.clock.now_ms())
        if refusal is not None:
            product_id, offer = refusal
            raise REFUSALS[offer](product_id)
        return {product_id: domain.snapshot(listings[product_id]) for product_id in product_ids}
