"""The gateway's metrics (Prometheus), next to the kit's request metrics."""

from __future__ import annotations

from prometheus_client import Counter

# unauthenticated | token_expired | token_invalid | forbidden | payload_too_large | rate_limited
refusals = Counter("gateway_refusals_total", "Requests refused at the edge", ["code"])
# part: customer | products; outcome: ok | missing | unavailable
parts = Counter("gateway_composed_parts_total", "Parts of composed reads, by outcome", ["part", "outcome"])
# source: inventory (the customer's own recent write) | catalog (the read model)
availability_reads = Counter("gateway_availability_reads_total", "Availability served, by source", ["source"])
