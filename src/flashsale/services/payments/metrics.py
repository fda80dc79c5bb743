"""The payments service's domain metrics (Prometheus), next to the kit's request and event metrics."""

from __future__ import annotations

from prometheus_client import Counter

# kind: authorise | capture | void | refund. outcome: authorised, declined, captured, voided,
# refunded (the step was carried out), replayed (answered from what was stored), in_progress,
# refused (not capturable / not refundable), provider_unavailable.
operations = Counter("payments_operations_total", "Payment operations by kind and outcome", ["kind", "outcome"])

# One per attempt: outcome ok, error (ProviderError) or timeout.
provider_calls = Counter("payments_provider_calls_total", "Calls to the payment provider", ["kind", "outcome"])
