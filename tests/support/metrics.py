"""One sample from a service's Prometheus page (GET /metrics)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support import plain_http


def sample(page: str, name: str, **labels: str) -> float:
    """The value of the sample `name` whose labels include `labels`; 0 when there is none yet
    (a counter no event has touched is not on the page)."""
    for family in text_string_to_metric_families(page):
        for found in family.samples:
            if found.name == name and all(found.labels.get(key) == value for key, value in labels.items()):
                return float(found.value)
    return 0.0


def total(page: str, name: str, **labels: str) -> float:
    """The sum of the samples `name` whose labels include `labels` (over the label values not given)."""
    return sum(float(found.value) for family in text_string_to_metric_families(page) for found in family.samples
               if found.name == name and all(found.labels.get(key) == value for key, value in labels.items()))


def page_of(url: str) -> str:
    """The Prometheus page of the process at `url`."""
    return plain_http.get(f"{url}/metrics", timeout=10).text


def metric(http: httpx.Client, name: str, **labels: str) -> float:
    """`sample` of the page the service behind `http` serves now."""
    return sample(http.get("/metrics").text, name, **labels)
