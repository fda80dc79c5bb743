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
    buckets = _buckets(metrics_text, name, label_filter)
    if not buckets or buckets.get(math.inf, 0) == 0:
        return None
    total = buckets[math.inf]
    for bound in sorted(buckets):
        if buckets[bound] >= q / 100 * total:
            return bound
    return None


def _buckets(metrics_text: str, name: str, label_filter: dict[str, str]) -> dict[float, float]:
    """Cumulative bucket counts by upper bound, summed over every series matching the filter."""
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
    return buckets


def histogram_quantile(metrics_text: str, name: str, label_filter: dict[str, str], q: float) -> float | None:
    """The q-th percentile of a Prometheus histogram, interpolated linearly inside its bucket (as
    Prometheus' histogram_quantile does); None without observations. Above the last finite bound
    it answers that bound (the histogram knows no more)."""
    buckets = _buckets(metrics_text, name, label_filter)
    total = buckets.get(math.inf, 0.0)
    if total == 0:
        return None
    rank, lower, below = q / 100 * total, 0.0, 0.0
    for bound in sorted(buckets):
        if buckets[bound] >= rank:
            if math.isinf(bound):
                return lower
            share = (rank - below) / (buckets[bound] - below) if buckets[bound] > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, buckets[bound]
    return None


def histogram_series(metrics_text: str, name: str, label: str) -> dict[str, float]:
    """Observations per value of `label` in a histogram: `{consumer: count, ...}`."""
    counts: dict[str, float] = {}
    for line in metrics_text.splitlines():
        match = _BUCKET.match(line)
        if not match or match["name"] != name:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.get("le") == "+Inf" and label in labels:
            counts[labels[label]] = counts.get(labels[label], 0.0) + float(match["value"])
    return counts
