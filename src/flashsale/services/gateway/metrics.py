"""The gateway's metrics (Prometheus), next to the kit's request metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# unauthenticated | token_expired | token_invalid | forbidden | payload_too_large | rate_limited | out_of_stock
refusals = Counter("gateway_refusals_total", "Requests refused at the edge", ["code"])
# part: customer | products; outcome: ok | missing | unavailable
parts = Counter("gateway_composed_parts_total", "Parts of composed reads, by outcome", ["part", "outcome"])
# source: inventory (the customer's own recent write) | catalog (the read model)
availability_reads = Counter("gateway_availability_reads_total", "Availability served, by source", ["source"])
# Products the sold-out copy holds marked now; facts heard that gave units back (sold_out.py).
sold_out_products = Gauge("gateway_sold_out_products", "Products the gateway refuses as sold out")
units_back_heard = Counter("gateway_units_back_heard_total", "Inventory facts heard that gave units back")
profile_changes_heard = Counter("gateway_profile_changes_heard_total", "Customers' profile changes heard (profiles.py)")
# The gauge's name is older than the profiles' feed: one subscription hears both (feed.py).
feed_listening = Gauge("gateway_sold_out_feed_listening",
                       "1 while the gateway hears the inventory's and the customers' facts")
