"""The inventory's domain metrics (Prometheus), next to the kit's request and event metrics."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge

holds_granted = Counter("inventory_holds_granted_total", "Holds granted (new reservations)")
holds_refused = Counter("inventory_holds_refused_total", "Holds refused", ["reason"])
holds_ended = Counter("inventory_holds_ended_total", "Holds that ended", ["outcome"])
stock_available = Gauge("inventory_stock_available", "Units available to hold, per product", ["product_id"])


def record_available(levels: Iterable[tuple[str, int]]) -> None:
    """Set the gauge from values read back in a committed transaction."""
    for product_id, available in levels:
        stock_available.labels(product_id).set(available)
