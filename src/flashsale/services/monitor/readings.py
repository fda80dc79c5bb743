"""One instance's /metrics, reduced to what the operations dashboard shows (pure, no I/O).

A service's exposition carries far more than the dashboard needs (request latency per route,
per-product gauges of every product), and it is read every second from every instance. So the
scraper asks each instance for the samples it reads only (`SAMPLES`), and the text is cut down to
the wanted families by their names, line by line, before prometheus_client's parser sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# A histogram as cumulative counts per upper bound, ascending, `inf` last: ((0.005, 3.0), ...).
Buckets = tuple[tuple[float, float], ...]

HOLDS_GRANTED = "inventory_holds_granted"
HOLDS_REFUSED = "inventory_holds_refused"
ORDERS_BY_STATUS = "orders_by_status"
SAGAS_NEEDING_ATTENTION = "orders_sagas_needs_attention"
OUTBOX_BACKLOG = "outbox_backlog"
OUTBOX_LAG = "outbox_relay_lag_seconds"
CONSUMER_PENDING = "consumer_pending_messages"
CONSUMER_UNACKED = "consumer_unacked_messages"
PROPAGATION = "event_propagation_seconds"
DEAD_LETTERED = "dead_letters"
WANTED = frozenset({
    HOLDS_GRANTED, HOLDS_REFUSED, ORDERS_BY_STATUS, SAGAS_NEEDING_ATTENTION, OUTBOX_BACKLOG, OUTBOX_LAG,
    CONSUMER_PENDING, CONSUMER_UNACKED, PROPAGATION, DEAD_LETTERED,
})
# The samples a reading takes, asked for by name (`GET /metrics?name[]=...`, kit/service.py), so an
# instance renders only these; the lines are still cut down below for one that renders everything.
SAMPLES = (
    f"{HOLDS_GRANTED}_total", f"{HOLDS_REFUSED}_total", ORDERS_BY_STATUS, SAGAS_NEEDING_ATTENTION, OUTBOX_BACKLOG,
    OUTBOX_LAG, CONSUMER_PENDING, CONSUMER_UNACKED, f"{PROPAGATION}_bucket", f"{DEAD_LETTERED}_total",
)
# What the exposition appends to a family's name for its samples (and, for counters, its TYPE line).
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")
UNREAD = ("_created", "_count", "_sum")  # samples of wanted families that the reading does not use


@dataclass(frozen=True)
class Reading:
    """What one instance said, at one scrape. Counters are totals since the process started."""

    holds_granted: float = 0.0
    holds_refused: dict[str, float] = field(default_factory=dict)  # per reason
    orders_by_status: dict[str, float] = field(default_factory=dict)
    sagas_needing_attention: float | None = None
    outbox_backlog: float | None = None  # None: the process has no outbox (stateless)
    outbox_lag_s: float | None = None
    consumer_pending: dict[str, float] = field(default_factory=dict)  # per durable consumer
    consumer_unacked: dict[str, float] = field(default_factory=dict)
    propagation: dict[tuple[str, str], Buckets] = field(default_factory=dict)  # per (consumer, event type)
    dead_lettered: float = 0.0

    @property
    def holds_refused_total(self) -> float:
        return sum(self.holds_refused.values())


def family_of(sample_name: str) -> str:
    for suffix in SUFFIXES:
        if sample_name.endswith(suffix):
            return sample_name[: -len(suffix)]
    return sample_name


def wanted_lines(text: str) -> Iterator[str]:
    """The lines of the exposition that belong to a wanted family (samples, HELP and TYPE)."""
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            name = line[7:].split(" ", 1)[0]
        elif not line or line.startswith("#"):
            continue
        else:
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name.endswith(UNREAD):
                continue  # the parser is the costly part: hand it nothing the reading ignores
        if family_of(name) in WANTED:
            yield line


def parse_reading(text: str) -> Reading:
    """The reading in an exposition (text format); raises ValueError when it cannot be parsed."""
    values: dict[str, Any] = {"holds_refused": {}, "orders_by_status": {}, "consumer_pending": {},
                              "consumer_unacked": {}}
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families("\n".join(wanted_lines(text)) + "\n"):
        for sample in family.samples:
            _take(sample.name, sample.labels, float(sample.value), values, buckets)
    values["propagation"] = {key: tuple(sorted(found)) for key, found in buckets.items()}
    return Reading(**values)


def _take(name: str, labels: dict[str, str], value: float, values: dict[str, Any],
          buckets: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    if name == f"{HOLDS_GRANTED}_total":
        values["holds_granted"] = value
    elif name == f"{HOLDS_REFUSED}_total":
        values["holds_refused"][labels.get("reason", "")] = value
    elif name == ORDERS_BY_STATUS:
        values["orders_by_status"][labels.get("status", "")] = value
    elif name == SAGAS_NEEDING_ATTENTION:
        values["sagas_needing_attention"] = value
    elif name == OUTBOX_BACKLOG:
        values["outbox_backlog"] = value
    elif name == OUTBOX_LAG:
        values["outbox_lag_s"] = value
    elif name in (CONSUMER_PENDING, CONSUMER_UNACKED):
        per_consumer = values["consumer_pending" if name == CONSUMER_PENDING else "consumer_unacked"]
        per_consumer[labels.get("consumer", "")] = value
    elif name == f"{PROPAGATION}_bucket":
        key = (labels.get("consumer", ""), labels.get("type", ""))
        buckets.setdefault(key, []).append((float(labels["le"]), value))
    elif name == f"{DEAD_LETTERED}_total":
        values["dead_lettered"] = values.get("dead_lettered", 0.0) + value

