"""The customers service's domain metrics (Prometheus), next to the kit's request and event metrics.

Each counts changes that were committed: a refused or no-op request moves none but `refused`.
"""

from __future__ import annotations

from prometheus_client import Counter

customers_created = Counter("customers_created_total", "Customer profiles created")
customers_updated = Counter("customers_updated_total", "Customer profile changes committed (new versions)")
customers_refused = Counter("customers_refused_total", "Create and update requests refused", ["reason"])
sign_ins = Counter("customers_sign_ins_total", "Email and password checks", ["outcome"])  # accepted | refused
