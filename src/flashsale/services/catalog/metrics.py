"""The catalog service's domain metrics (Prometheus), next to the kit's request and event metrics.

Each counts what was committed, never a replay: a duplicate event moves none.
"""

from __future__ import annotations

from prometheus_client import Counter

products_changed = Counter("catalog_products_changed_total", "Product writes that made a new version", ["kind"])
availability_clamped = Counter(
    "catalog_availability_clamped_total",
    "Availability deltas that would have gone below 0 (drift; reconciliation repairs it)",
)
availability_skipped = Counter(
    "catalog_availability_skipped_total", "Availability deltas skipped: no level known to move", ["type"]
)
reconcile_rounds = Counter("catalog_reconcile_rounds_total", "Reconciliation rounds finished", ["trigger"])
availability_repaired = Counter(
    "catalog_availability_repaired_total", "Availability levels a reconciliation found drifted and repaired"
)
availability_deferred = Counter(
    "catalog_availability_deferred_total", "Differing levels left for the next round (events in flight)", ["why"]
)
