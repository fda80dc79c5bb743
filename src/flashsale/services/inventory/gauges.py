"""Stock gauges per product (available, reserved, sold), refreshed from the stock table.

The hold path sets `available` as it changes; reserved and sold move in places no gauge follows
(deductions, expiries, revocations), so a loop reads the levels afresh every few seconds. It
reads only the products whose stock this process has moved (`metrics.active_products`: holds,
releases, expiries, receipts, adjustments, order events; the 10,000 most recent), by primary key:
its cost follows what is being sold, not the catalogue. Reading every product each round, as
this loop once did, is a scale bug: with a million products it scanned the stock table every
5 s and still stopped at the first 10,000 ids, so a product further on never got its gauges.
A product this process has not moved since it started has no gauges; each instance exports
the products it moves. A dashboard sees a product's stock drain within the interval.
"""

from __future__ import annotations

import asyncio

import structlog

from flashsale.kit.service import Loop
from flashsale.kit.waiting import wait_set
from flashsale.services.inventory import metrics
from flashsale.services.inventory.operations import Inventory

log = structlog.get_logger(__name__)

PAGE = 500  # products read per statement


def stock_gauges(store: Inventory, *, interval_s: float) -> Loop:
    """A background loop (for `ServiceRuntime.spawn`) until `stop` is set."""

    async def refresh(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await refresh_stock_gauges(store)
            except Exception:  # the loop must outlive a failed round (e.g. a database restart)
                log.exception("stock_gauges_failed")
            await wait_set(stop, interval_s)

    return refresh


async def refresh_stock_gauges(store: Inventory) -> None:
    active = metrics.active_products()
    for start in range(0, len(active), PAGE):
        for product in await store.stock_of_products(active[start:start + PAGE]):
            if not metrics.is_active(product.product_id):
                continue  # forgotten while this round read (more than 10,000 moved meanwhile)
            metrics.stock_available.labels(product.product_id).set(product.level.available)
            metrics.stock_reserved.labels(product.product_id).set(product.level.reserved)
            metrics.stock_sold.labels(product.product_id).set(product.level.sold)
