"""The dashboard's memory: a bounded ring of scrapes and what is derived from them (pure, no I/O).

Every scrape (scrape.py, about once a second) is recorded here. What the charts need over the
whole window (ten minutes by default) is reduced at once to a small `Point`; the raw readings are
kept only for the last minute, which is what the time-to-consistency percentiles look back over;
stock levels are kept as change points per product, so a product that does not move costs one
entry however long the window.

Counters are totals since their process started. A process that restarts starts again from zero,
so a counter lower than last seen is a reset: what it counts now all happened since (as
Prometheus' `rate()` reads it). Instances are told apart by their URL, which survives a restart.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from flashsale.services.monitor.readings import Buckets, Reading

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Stock:
    available: int
    reserved: int
    sold: int


@dataclass(frozen=True)
class InstanceScrape:
    """One instance at one scrape: its reading, or why there is none (it did not answer)."""

    service: str
    url: str
    reading: Reading | None
    error: str | None = None


@dataclass(frozen=True)
class Scrape:
    at_ms: int
    instances: tuple[InstanceScrape, ...]
    stock: dict[str, Stock] | None  # None: no inventory instance answered
    stock_error: str | None = None

    def readings(self, service: str) -> list[tuple[str, Reading]]:
        return [(i.url, i.reading) for i in self.instances if i.service == service and i.reading is not None]


@dataclass(frozen=True)
class Point:
    """What the charts show of one scrape, kept for the whole window."""

    at_ms: int
    holds_granted_per_s: float
    holds_refused_per_s: float
    orders_by_status: dict[str, float]


@dataclass(frozen=True)
class Latency:
    """Time to consistency of one consumer and event type over the last minute."""

    consumer: str
    event_type: str
    events: int
    quantiles_s: tuple[float | None, ...]  # in the order of QUANTILES


# -- counters and histograms ----------------------------------------------------------------------


def counter_increase(before: float | None, now: float) -> float:
    """How much a counter grew since it was `before`; lower than before means its process restarted
    (it counts from zero again); never seen before means nothing is known yet."""
    if before is None:
        return 0.0
    return now if now < before else now - before


def bucket_increase(before: Buckets | None, now: Buckets) -> Buckets:
    """The observations a cumulative histogram gained since `before` (None: the series did not exist
    then, so everything in it is new). A total lower than before is a restart: all of `now` is new."""
    if before is None or _total(now) < _total(before):
        return now
    earlier = dict(before)
    return tuple((le, max(0.0, count - earlier.get(le, 0.0))) for le, count in now)


def add_buckets(histograms: Iterable[Buckets]) -> Buckets:
    """Histograms of several instances as one (same bounds; a bound only one has is kept)."""
    sums: dict[float, float] = {}
    for buckets in histograms:
        for le, count in buckets:
            sums[le] = sums.get(le, 0.0) + count
    return tuple(sorted(sums.items()))


def quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile estimated from cumulative buckets, interpolating linearly inside the bucket
    the rank falls in (Prometheus' `histogram_quantile`). None without observations; a rank in the
    +Inf bucket answers the highest finite bound (all that is known is "more than that")."""
    total = _total(buckets)
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower
            inside = count - below
            return le if inside <= 0 else lower + (le - lower) * (rank - below) / inside
        lower, below = le, count
    return lower


def _total(buckets: Buckets) -> float:
    return buckets[-1][1] if buckets else 0.0


# -- stock ----------------------------------------------------------------------------------------


class StockHistory:
    """Each product's levels as change points; those older than the window are dropped, except the
    last one before it (the level at the window's start)."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._changes: dict[str, deque[tuple[int, Stock]]] = {}

    def record(self, at_ms: int, levels: dict[str, Stock]) -> None:
        for product_id, level in levels.items():
            changes = self._changes.setdefault(product_id, deque())
            if not changes or changes[-1][1] != level:
                changes.append((at_ms, level))
        horizon = at_ms - self.window_ms
        for changes in self._changes.values():
            while len(changes) > 1 and changes[1][0] <= horizon:
                changes.popleft()

    def latest(self) -> dict[str, tuple[int, Stock]]:
        """Every product's level now and when it last changed."""
        return {product_id: changes[-1] for product_id, changes in self._changes.items() if changes}

    def busiest(self, limit: int) -> list[str]:
        """The products that changed most often within the window (ties: the latest change first)."""
        ranked = sorted(self._changes.items(), key=lambda item: (-len(item[1]), -item[1][-1][0], item[0]))
        return [product_id for product_id, _ in ranked[:limit]]

    def levels_at(self, product_id: str, times_ms: Sequence[int]) -> list[Stock | None]:
        """The product's level at each of the (ascending) times; None before it was first seen."""
        changes = list(self._changes.get(product_id, ()))
        starts = [at for at, _ in changes]
        found: list[Stock | None] = []
        for at in times_ms:
            index = bisect.bisect_right(starts, at) - 1
            found.append(changes[index][1] if index >= 0 else None)
        return found


# -- the ring -------------------------------------------------------------------------------------


@dataclass
class Series:
    """The last `window_s` of scrapes, as points, stock changes and a minute of raw readings."""

    window_s: float = 600.0
    interval_s: float = 1.0
    latency_window_s: float = 60.0
    points: deque[Point] = field(init=False)
    scrapes: deque[Scrape] = field(init=False)
    stock: StockHistory = field(init=False)
    _counters: dict[str, tuple[float, float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.points = deque(maxlen=math.ceil(self.window_s / self.interval_s) + 1)
        self.scrapes = deque(maxlen=math.ceil(self.latency_window_s / self.interval_s) + 2)
        self.stock = StockHistory(int(self.window_s * 1000))

    @property
    def latest(self) -> Scrape | None:
        return self.scrapes[-1] if self.scrapes else None

    def record(self, scrape: Scrape) -> Point:
        previous = self.latest
        elapsed_s = (scrape.at_ms - previous.at_ms) / 1000 if previous is not None else 0.0
        granted, refused = self._hold_increases(scrape)
        point = Point(
            at_ms=scrape.at_ms,
            holds_granted_per_s=granted / elapsed_s if elapsed_s > 0 else 0.0,
            holds_refused_per_s=refused / elapsed_s if elapsed_s > 0 else 0.0,
            orders_by_status=orders_by_status(scrape),
        )
        self.points.append(point)
        self.scrapes.append(scrape)
        if scrape.stock is not None:
            self.stock.record(scrape.at_ms, scrape.stock)
        return point

    def _hold_increases(self, scrape: Scrape) -> tuple[float, float]:
        """Holds granted and refused since the last scrape, summed over the inventory instances."""
        granted = refused = 0.0
        for url, reading in scrape.readings("inventory"):
            before = self._counters.get(url)
            now = (reading.holds_granted, reading.holds_refused_total)
            granted += counter_increase(None if before is None else before[0], now[0])
            refused += counter_increase(None if before is None else before[1], now[1])
            self._counters[url] = now
        return granted, refused

    def recent_points(self, since_ms: int) -> list[Point]:
        return [point for point in self.points if point.at_ms >= since_ms]

    def latencies(self) -> list[Latency]:
        """Time to consistency per consumer and event type, from the histograms' growth over the
        last minute, summed over every instance of every service."""
        latest = self.latest
        if latest is None:
            return []
        horizon = latest.at_ms - int(self.latency_window_s * 1000)
        window = [scrape for scrape in self.scrapes if scrape.at_ms >= horizon]
        grown: dict[tuple[str, str], list[Buckets]] = {}
        for instance in latest.instances:
            if instance.reading is None:
                continue
            then = _earliest_reading(window, instance.url)
            for key, buckets in instance.reading.propagation.items():
                before = then.propagation.get(key) if then is not None else None
                grown.setdefault(key, []).append(bucket_increase(before, buckets))
        latencies = []
        for (consumer, event_type), parts in sorted(grown.items()):
            summed = add_buckets(parts)
            latencies.append(Latency(consumer, event_type, int(_total(summed)),
                                     tuple(quantile(q, summed) for q in QUANTILES)))
        return latencies


def _earliest_reading(window: Sequence[Scrape], url: str) -> Reading | None:
    for scrape in window:
        for instance in scrape.instances:
            if instance.url == url and instance.reading is not None:
                return instance.reading
    return None


def orders_by_status(scrape: Scrape) -> dict[str, float]:
    """Orders per status as the first answering order instance counts them (every instance counts
    the same database; mixing two would mix two moments)."""
    for _, reading in scrape.readings("orders"):
        if reading.orders_by_status:
            return dict(reading.orders_by_status)
    return {}


def highest(readings: Iterable[Reading], pick: str) -> dict[str, float]:
    """Per key, the highest of the instances' values of a per-consumer gauge (`consumer_pending`):
    the instances sharing a durable consumer each report the broker's one figure for it."""
    found: dict[str, float] = {}
    for reading in readings:
        values: dict[str, float] = getattr(reading, pick)
        for key, value in values.items():
            found[key] = max(found.get(key, value), value)
    return found
