"""What GET /dashboard/data answers: the current values and the charts' series, shaped from the
series (pure, no I/O). JSON names are camelCase, as in every API of the house."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flashsale.kit.clock import iso_from_ms
from flashsale.services.monitor.readings import Reading
from flashsale.services.monitor.series import QUANTILES, Latency, Point, Scrape, Series, Stock, highest

CHARTED_PRODUCTS = 5
LISTED_PRODUCTS = 50
RATE_SPAN_MS = 5000  # the rates shown as figures are averaged over the last few seconds
ORDER_STATUSES = ("PENDING_PAYMENT", "PAID", "COMPLETED", "CANCELLED")


@dataclass(frozen=True)
class Listing:
    """A short list fetched now and then (dead letters, parked sagas): how many there are, the most
    recent few, and why it is not known when it is not."""

    count: int | None = None
    latest: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "latest": self.latest, "error": self.error}


@dataclass(frozen=True)
class Extras:
    dead_letters: Listing = Listing(error="not read yet")
    sagas: Listing = Listing(error="not read yet")


def board(series: Series, now_ms: int, minutes: float, extras: Extras) -> dict[str, Any]:
    latest = series.latest
    points = series.recent_points(now_ms - int(minutes * 60_000))
    readings = _readings(latest)
    return {
        "asOf": iso_from_ms(latest.at_ms if latest else now_ms),
        "atMs": latest.at_ms if latest else None,
        "intervalS": series.interval_s,
        "windowS": series.window_s,
        "services": _services(latest),
        "stock": _stock(series, latest),
        "holds": _rates(points, now_ms),
        "orders": {"byStatus": points[-1].orders_by_status if points else {}},
        "outbox": _outbox(readings),
        "consumers": _consumers(readings),
        "consistency": [_latency(latency) for latency in series.latencies() if latency.events],
        "deadLetters": extras.dead_letters.to_json(),
        "sagas": extras.sagas.to_json(),
        "charts": _charts(series, points),
    }


def product_rows(series: Series) -> list[dict[str, Any]]:
    """The products to list, the most recently moved first."""
    latest = series.stock.latest()
    ordered = sorted(latest.items(), key=lambda item: (-item[1][0], item[0]))[:LISTED_PRODUCTS]
    return [_product(product_id, level, changed_ms) for product_id, (changed_ms, level) in ordered]


def _product(product_id: str, level: Stock, changed_ms: int) -> dict[str, Any]:
    return {"productId": product_id, "available": level.available, "reserved": level.reserved,
            "sold": level.sold, "changedAt": iso_from_ms(changed_ms)}


def _readings(latest: Scrape | None) -> dict[str, list[Reading]]:
    found: dict[str, list[Reading]] = defaultdict(list)
    for instance in latest.instances if latest else ():
        if instance.reading is not None:
            found[instance.service].append(instance.reading)
    return found


def _services(latest: Scrape | None) -> list[dict[str, Any]]:
    return [{"service": i.service, "url": i.url, "up": i.reading is not None, "error": i.error}
            for i in (latest.instances if latest else ())]


def _stock(series: Series, latest: Scrape | None) -> dict[str, Any]:
    answered = latest is not None and latest.stock is not None
    error = "no scrape yet" if latest is None else latest.stock_error
    return {"answered": answered, "error": None if answered else error, "products": product_rows(series)}


def _rates(points: list[Point], now_ms: int) -> dict[str, float]:
    recent = [p for p in points if p.at_ms > now_ms - RATE_SPAN_MS] or points[-1:]
    count = max(1, len(recent))
    return {"grantedPerS": round(sum(p.holds_granted_per_s for p in recent) / count, 2),
            "refusedPerS": round(sum(p.holds_refused_per_s for p in recent) / count, 2)}


def _outbox(readings: dict[str, list[Reading]]) -> list[dict[str, Any]]:
    """Per service, the worst figure its instances report: they all count the one outbox table."""
    rows = []
    for service, found in sorted(readings.items()):
        backlogs = [r.outbox_backlog for r in found if r.outbox_backlog is not None]
        lags = [r.outbox_lag_s for r in found if r.outbox_lag_s is not None]
        if backlogs:
            rows.append({"service": service, "backlog": int(max(backlogs)), "lagS": round(max(lags or [0.0]), 3)})
    return rows


def _consumers(readings: dict[str, list[Reading]]) -> list[dict[str, Any]]:
    every = [reading for found in readings.values() for reading in found]
    pending, unacked = highest(every, "consumer_pending"), highest(every, "consumer_unacked")
    return [{"consumer": name, "pending": int(pending.get(name, 0)), "unacked": int(unacked.get(name, 0))}
            for name in sorted(pending.keys() | unacked.keys())]


def _latency(latency: Latency) -> dict[str, Any]:
    row: dict[str, Any] = {"consumer": latency.consumer, "type": latency.event_type, "events": latency.events}
    for q, value in zip(QUANTILES, latency.quantiles_s, strict=True):
        row[f"p{round(q * 100)}Ms"] = None if value is None else round(value * 1000, 1)
    return row


def _charts(series: Series, points: list[Point]) -> dict[str, Any]:
    times = [p.at_ms for p in points]
    stock_lines = []
    for product_id in series.stock.busiest(CHARTED_PRODUCTS):
        levels = series.stock.levels_at(product_id, times)
        stock_lines.append({"label": product_id, "values": [None if s is None else s.available for s in levels]})
    others = {status for p in points for status in p.orders_by_status} - set(ORDER_STATUSES)
    statuses = [*ORDER_STATUSES, *sorted(others)]
    return {
        "t": times,
        "stock": stock_lines,
        "holds": [{"label": "granted/s", "values": [round(p.holds_granted_per_s, 2) for p in points]},
                  {"label": "refused/s", "values": [round(p.holds_refused_per_s, 2) for p in points]}],
        "orders": [{"label": status, "values": [p.orders_by_status.get(status) for p in points]}
                   for status in statuses],
    }
