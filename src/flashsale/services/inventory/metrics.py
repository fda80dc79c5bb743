"""The inventory's domain metrics (Prometheus), next to the kit's request and event metrics."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

holds_granted = Counter("inventory_holds_granted_total", "Holds granted (new reservations)")
holds_refused = Counter("inventory_holds_refused_total", "Holds refused", ["reason"])
holds_ended = Counter("inventory_holds_ended_total", "Holds that ended", ["outcome"])
# Holds granted or refused together in one transaction (hold strategy "coalesced").
hold_batch_size = Histogram(
    "inventory_hold_batch_size", "Holds per coalesced batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1000)
)
# From a batch's first statement to its commit: under load this, not the SQL, sets how fast the
# next batch can start (each await of the transaction waits for its turn on the event loop).
hold_batch_seconds = Histogram(
    "inventory_hold_batch_seconds",
    "Time from a coalesced batch's transaction start to its commit",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
stock_available = Gauge("inventory_stock_available", "Units available to hold, per product", ["product_id"])
# Refreshed from the stock table every few seconds (gauges.py); `available` also moves with each hold.
stock_reserved = Gauge("inventory_stock_reserved", "Units held by active holds, per product", ["product_id"])
stock_sold = Gauge("inventory_stock_sold", "Units sold (deducted), per product", ["product_id"])


# The products whose stock this process has moved, least recently first: those the gauges loop
# reads afresh (gauges.py). Bounded, as the labels one process exports are.
MAX_ACTIVE_PRODUCTS = 10_000
_active: OrderedDict[str, None] = OrderedDict()


def record_available(levels: Iterable[tuple[str, int]]) -> None:
    """Set the gauge from values read back in a committed transaction (every stock move of this
    process comes here: holds, releases, expiries, receipts, adjustments, order events)."""
    for product_id, available in levels:
        stock_available.labels(product_id).set(available)
        _active[product_id] = None
        _active.move_to_end(product_id)
    while len(_active) > MAX_ACTIVE_PRODUCTS:
        _forget(_active.popitem(last=False)[0])


def active_products() -> list[str]:
    """The products this process has moved stock of, the most recently moved last."""
    return list(_active)


def is_active(product_id: str) -> bool:
    return product_id in _active


def _forget(product_id: str) -> None:
    """The product's gauges go: a value nothing refreshes any more would only go stale."""
    for gauge in (stock_available, stock_reserved, stock_sold):
        gauge.remove(product_id)  # a label never set is no error
late_confirmations_refused = Counter(
    "inventory_late_confirmations_refused_total",
    "Confirmations delivered after their order's cancellation: refused, nothing sold (domain.on_order_confirmed)",
)
