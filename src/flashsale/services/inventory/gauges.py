"""Stock gauges per product (available, reserved, sold), refreshed from the stock table.

The hold path sets `available` as it changes; reserved and sold move in places no gauge follows
(deductions, expiries, revocations), so a loop reads every product's level every few seconds,
a page at a time. A dashboard sees a product's stock drain within that interval.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from flashsale.kit.service import Loop
from flashsale.services.inventory import metrics
from flashsale.services.inventory.store import InventoryStore

log = structlog.get_logger(__name__)

PAGE = 500
MAX_PRODUCTS = 10_000  # a bound on the labels one process exports


def stock_gauges(store: InventoryStore, *, interval_s: float) -> Loop:
    """A background loop (for `ServiceRuntime.spawn`) until `stop` is set."""

    async def refresh(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await refresh_stock_gauges(store)
            except Exception:  # the loop must outlive a failed round (e.g. a database restart)
                log.exception("stock_gauges_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    return refresh


async def refresh_stock_gauges(store: InventoryStore) -> None:
    after: str | None = None
    seen = 0
    while seen < MAX_PRODUCTS:
        page = await store.products(after=after, limit=PAGE)
        for product in page.items:
            metrics.stock_available.labels(product.product_id).set(product.level.available)
            metrics.stock_reserved.labels(product.product_id).set(product.level.reserved)
            metrics.stock_sold.labels(product.product_id).set(product.level.sold)
        seen += len(page.items)
        if page.next is None:
            return
        after = page.next
