"""The measured consistency windows: how long each consumer's copy lagged the events it follows.

Every consumer records `event_propagation_seconds{consumer, type}` (event time to effect
committed, kit/propagation.py). After a sale the demo scrapes every instance's /metrics and
reports p50 and p99 per consumer, i.e. per read model or copy: the window in which that copy
may show the world as it was before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.stats import histogram_quantile, histogram_series

METRIC = "event_propagation_seconds"
# What each consumer keeps in step with its source (consumer names as the services subscribe).
READ_MODELS = {
    "catalog": "catalog availability (inventory events)",
    "orders": "order checkout (reservation reports)",
    "orders-contacts": "order contact copy (customer profiles)",
    "inventory": "inventory deductions (order events)",
    "notifications": "customer notifications (order events)",
    "reporting": "sales reporting (all events)",
}


@dataclass(frozen=True)
class Window:
    consumer: str
    read_model: str
    events: int
    p50_s: float | None
    p99_s: float | None


async def _scrape(http: httpx.AsyncClient, url: str) -> str:
    try:
        answer = await http.get(f"{url}/metrics")
    except httpx.HTTPError:
        return ""  # an instance that does not answer adds nothing
    return answer.text if answer.status_code == 200 else ""


async def consistency_windows(services: ServicesFile) -> list[Window]:
    """p50/p99 of every consumer's propagation latency, over all instances of the house."""
    urls = [url for found in services.urls.values() for url in found]
    async with httpx.AsyncClient(timeout=10.0) as http:
        text = "\n".join(await asyncio.gather(*(_scrape(http, url) for url in urls)))
    windows = []
    for consumer, count in sorted(histogram_series(text, METRIC, "consumer").items()):
        p50, p99 = (histogram_quantile(text, METRIC, {"consumer": consumer}, q) for q in (50, 99))
        windows.append(Window(consumer, READ_MODELS.get(consumer, consumer), int(count), p50, p99))
    return windows
