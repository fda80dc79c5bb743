"""The inventory's domain metrics (Prometheus), next to the kit's request and event metrics."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

holds_granted = Counter("inventory_holds_granted_total", "Holds granted (new reservations)")
holds_refused = Counter("inventory_holds_refused_total", "Holds refused", ["reason"])
holds_ended = Counter("inventory_holds_ended_total", "Holds that ended", ["outcome"])
# Holds granted or refused together in one transaction (hold strategy "coalesced").
hold_batch_size = Histogram(
    "inventory_hold_batch_size", "Holds per coalesced batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1000)
)
stock_available = Gauge("inventory_stock_available", "Units available to hold, per product", ["product_id"])
# Refreshed from the stock table every few seconds (gauges.py); `available` also moves with each hold.
stock_reserved = Gauge("inventory_stock_reserved", "Units held by active holds, per product", ["product_id"])
stock_sold = Gauge("inventory_stock_sold", "Units sold (deducted), per product", ["product_id"])


def record_available(levels: Iterable[tuple[str, int]]) -> None:
    """Set the gauge from values read back in a committed transaction."""
    for product_id, available in levels:
        stock_available.labels(product_id).set(available)
