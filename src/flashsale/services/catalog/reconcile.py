"""Reconciliation of the availability read model: walk the inventory's stock in pages, compare it
with the levels the catalog keeps, repair the levels that drifted (available, and with it the
status; asOf becomes the time of the inventory's snapshot).

Why a naive "overwrite with the snapshot" is wrong. The read model is fed by deltas (a hold takes
units, a release gives them back). An event the snapshot already reflects but the catalog has not
applied yet would be applied again on top of the repaired level (counted twice); and an event
applied after the snapshot was read would be rolled back by it. A timestamp alone cannot tell
these apart: an event's time is stamped before its transaction commits, so near the snapshot's
moment both kinds exist.

The rule (per product P; `T` is when the inventory read the snapshot):
1. Read the level L the catalog has for P, with the id of the last event it applied, BEFORE the
   snapshot is read. L can reflect no event committed after T.
2. Wait until the inventory has published every event it created before T (the listing says how
   old its oldest unpublished event is), and until this catalog's durable consumer has acked
   everything the stream held by then (acks follow commits). Now every event committed before T
   has been applied.
3. In one transaction, compare-and-set: if P's level still is L (same last event id), no event
   arrived between 1 and 3, so by 2 L already contained every event committed before T and none
   after it: L must equal the snapshot, and if it does not, that is drift (a lost event, a
   corrupt row). Writing the snapshot is then exact: every event still to come was committed
   after T and applies on top of it. If the level changed since 1, it is left alone (MOVED) and
   judged by the next round; so is everything on a page whose wait in 2 runs out (deferred).
So a repair never overwrites an event applied after the page was read, and never makes one count
twice. Only products whose first comparison differs pay for steps 1-3. (Assumed: the inventory's
instances stamp events and snapshots with clocks that agree to the millisecond.)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import structlog

from flashsale.kit.bus import Bus
from flashsale.kit.errors import BrokerUnavailable, DependencyUnavailable
from flashsale.kit.waiting import wait_set
from flashsale.services.catalog import metrics
from flashsale.services.catalog.clients import InventoryStock, StockPage
from flashsale.services.catalog.consumers import CONSUMER, PRODUCER
from flashsale.services.catalog.domain import Verdict
from flashsale.services.catalog.store import CatalogStore, Stock

log = structlog.get_logger(__name__)

POLL_S = 0.05


@dataclass
class Round:
    """What a round did: products compared, levels repaired, repairs left for the next round."""

    processed: int = 0
    fixed: int = 0
    deferred: int = 0


class Reconciler:
    def __init__(
        self, store: CatalogStore, inventory: InventoryStock | None, bus: Bus, *, page_size: int, settle_s: float,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.bus = bus
        self.page_size = page_size
        self.settle_s = settle_s
        self._one_at_a_time = asyncio.Lock()

    async def run(self, trigger: str) -> Round:
        """One round over every product the inventory stocks; DependencyUnavailable when the
        inventory cannot be walked (levels are left as far as the round got)."""
        if self.inventory is None:
            raise DependencyUnavailable("inventory", "no inventory URL configured (FLASHSALE_INVENTORY_URLS)")
        async with self._one_at_a_time:
            done, after = Round(), None
            while True:
                page = await self.inventory.page(after, self.page_size)
                await self._reconcile_page(self.inventory, page, after, done)
                if page.next is None:
                    break
                after = page.next
        metrics.reconcile_rounds.labels(trigger).inc()
        log.info("availability_reconciled", trigger=trigger, processed=done.processed, fixed=done.fixed,
                 deferred=done.deferred)
        return done

    async def _reconcile_page(self, inventory: InventoryStock, first: StockPage, after: str | None,
                              done: Round) -> None:
        done.processed += len(first.available)
        known = await self.store.stocks(list(first.available))
        suspects = [pid for pid, available in first.available.items() if _level(known.get(pid)) != available]
        if not suspects:
            return
        seen = await self.store.stocks(suspects)  # step 1: before the snapshot
        snapshot = await inventory.page(after, self.page_size)
        if snapshot.as_of_ms is None or not await self._all_applied(inventory, snapshot, after):
            self._defer(done, len(suspects), "in-flight events did not settle")
            return
        for pid in suspects:
            await self._repair(pid, seen.get(pid), snapshot, done)

    async def _all_applied(self, inventory: InventoryStock, snapshot: StockPage, after: str | None) -> bool:
        """Step 2: every event created before the snapshot is published and applied here."""
        assert snapshot.as_of_ms is not None
        deadline = time.monotonic() + self.settle_s
        latest = snapshot
        while not latest.published_everything_before(snapshot.as_of_ms):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
            latest = await inventory.page(after, 1)
        try:
            sequence = await self.bus.stream_last_sequence(PRODUCER)
            while not await self.bus.applied_through(PRODUCER, CONSUMER, sequence):
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(POLL_S)
        except BrokerUnavailable as exc:
            log.warning("reconcile_broker_unavailable", error=str(exc))
            return False
        return True

    async def _repair(self, product_id: str, seen: Stock | None, snapshot: StockPage, done: Round) -> None:
        """Step 3."""
        available = snapshot.available.get(product_id)
        if available is None or snapshot.as_of_ms is None:  # pushed off the page by new products
            self._defer(done, 1, "not on the page any more")
            return
        source = Stock(available, snapshot.as_of_ms, f"reconciled-{uuid.uuid4().hex}")
        outcome = await self.store.repair_stock(product_id, seen, source)
        if outcome is Verdict.REPAIR:
            done.fixed += 1
            metrics.availability_repaired.inc()
            log.warning("availability_repaired", product_id=product_id, was=_level(seen), now=available)
        elif outcome is Verdict.MOVED:
            self._defer(done, 1, "moved")

    def _defer(self, done: Round, count: int, why: str) -> None:
        done.deferred += count
        metrics.availability_deferred.labels(why).inc(count)

    async def every(self, interval_s: float, stop: asyncio.Event) -> None:
        """The scheduled rounds: one each `interval_s`, until the service stops."""
        while not stop.is_set():
            await wait_set(stop, interval_s)
            if stop.is_set():
                return
            try:
                await self.run("scheduled")
            except DependencyUnavailable as exc:
                log.warning("reconcile_skipped", reason=str(exc))
            except Exception:  # a failed round is logged; the next one tries again
                log.exception("reconcile_failed")


def _level(stock: Stock | None) -> int | None:
    return None if stock is None else stock.available
