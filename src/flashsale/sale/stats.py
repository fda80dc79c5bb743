"""Percentiles of measured samples and of Prometheus histograms."""

from __future__ import annotations

import math
import re


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


_BUCKET = re.compile(r'^(?P<name>\w+)_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$')


def histogram_percentile(metrics_text: str, name: str, label_filter: dict[str, str], q: float) -> float | None:
    """Upper bound of the bucket holding the q-th percentile of a Prometheus histogram."""
    buckets: dict[float, float] = {}
    for line in metrics_text.splitlines():
        match = _BUCKET.match(line)
        if not match or match["name"] != name:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if any(labels.get(k) != v for k, v in label_filter.items()):
            continue
        bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + float(match["value"])
    if not buckets or buckets.get(math.inf, 0) == 0:
        return None
    total = buckets[math.inf]
    for bound in sorted(buckets):
        if buckets[bound] >= q / 100 * total:
            return bound
    return None
