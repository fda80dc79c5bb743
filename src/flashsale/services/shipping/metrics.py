"""The shipping service's domain metrics (Prometheus), next to the kit's request and event metrics.

Each counts changes that were committed, never replays: a repeated schedule or cancel moves none.
"""

from __future__ import annotations

from prometheus_client import Counter

shipments_scheduled = Counter("shipping_shipments_scheduled_total", "Shipments scheduled")
shipments_cancelled = Counter(
    "shipping_shipments_cancelled_total",
    "Shipments cancelled (kind: shipment, or tombstone when nothing had been scheduled yet)",
    ["kind"],
)
shipments_refused = Counter(
    "shipping_shipments_refused_total", "Schedule requests refused", ["reason"]
)
