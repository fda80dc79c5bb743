"""What the monitor exports (Prometheus): per model, the latest match ratio and the drift found."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

match_ratio = Gauge(
    "consistency_match_ratio", "Share of sampled entities whose copy agrees with its source (last round)", ["model"]
)
mismatches = Counter(
    "consistency_mismatches_total", "Sampled entities whose copy still disagreed after the grace period", ["model"]
)
lagging = Counter("consistency_lagging_total", "Sampled copies that disagreed at first and caught up", ["model"])
sampled = Counter("consistency_sampled_total", "Entities compared with their source", ["model"])
rounds = Counter("consistency_rounds_total", "Consistency rounds finished")
