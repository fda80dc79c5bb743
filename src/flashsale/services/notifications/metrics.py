"""The notifications service's domain metrics (Prometheus), next to the kit's event metrics."""

from __future__ import annotations

from prometheus_client import Counter

recorded = Counter("notifications_recorded", "Messages recorded for customers", ["kind"])
skipped = Counter("notifications_skipped", "Order events with no message recorded", ["reason"])
