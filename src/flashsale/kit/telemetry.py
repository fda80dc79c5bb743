"""Structured logs (structlog, JSON) and the Prometheus metrics every service exports."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

import structlog
from prometheus_client import Counter, Gauge, Histogram

from flashsale.kit.tracing import log_trace_ids


def configure_logging(service: str, instance: str, level: str = "INFO") -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    # One line per outbound request is noise at INFO and costs time on the hot path.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            log_trace_ids,  # trace_id and span_id while a span is active
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service, instance=instance)


@dataclass(frozen=True)
class KitMetrics:
    """Metrics the kit itself records; services add their own domain metrics."""

    requests: Histogram = field(
        default_factory=lambda: Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["route", "method", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
    )
    outbox_backlog: Gauge = field(
        default_factory=lambda: Gauge("outbox_backlog", "Outbox rows not yet published")
    )
    outbox_lag: Gauge = field(
        default_factory=lambda: Gauge(
            "outbox_relay_lag_seconds", "Age of the oldest unpublished outbox row"
        )
    )
    relay_out_of_turn: Counter = field(
        default_factory=lambda: Counter(
            "outbox_relay_out_of_turn_total", "Batches the stream refused because another relay published first"
        )
    )
    published: Counter = field(
        default_factory=lambda: Counter("outbox_published_total", "Events published by the relay")
    )
    consumed: Counter = field(
        default_factory=lambda: Counter(
            "events_consumed_total", "Events handled", ["consumer", "type", "outcome"]
        )
    )
    propagation: Histogram = field(
        default_factory=lambda: Histogram(
            "event_propagation_seconds", "Event time to effect committed", ["consumer", "type"],
            # From a fast local hop (5 ms) to a consumer that was down for a minute; 75 ms tells
            # a p99 just over the 50 ms goal (bench/checkout.py) from one twice as far.
            buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
    )
    redeliveries: Counter = field(
        default_factory=lambda: Counter(
            "event_redeliveries_total", "Handler failures that led to a redelivery",
            ["consumer", "type"],
        )
    )
    retention_deleted: Counter = field(
        default_factory=lambda: Counter(
            "retention_deleted_rows_total", "Rows the retention deleted from the kit's tables", ["table"]
        )
    )
    outage_waits: Counter = field(
        default_factory=lambda: Counter(
            "event_outage_waits_total",
            "Handler attempts that found the service's own database or broker unreachable; the message was "
            "kept in hand and tried again, its attempts toward the dead letters untouched",
            ["consumer", "type"],
        )
    )
    dead_letters: Counter = field(
        default_factory=lambda: Counter(
            "dead_letters_total", "Messages moved to the dead-letter stream", ["consumer"]
        )
    )
    # Consumer lag as the broker sees it, sampled by each subscribing process (bus.py).
    consumer_pending: Gauge = field(
        default_factory=lambda: Gauge(
            "consumer_pending_messages", "Messages in the stream not yet delivered to the durable consumer",
            ["consumer"],
        )
    )
    consumer_unacked: Gauge = field(
        default_factory=lambda: Gauge(
            "consumer_unacked_messages", "Messages delivered to the durable consumer and not yet acked",
            ["consumer"],
        )
    )
    delivered_again: Counter = field(
        default_factory=lambda: Counter(
            "event_deliveries_repeated_total",
            "Deliveries of a message delivered before (after a failure, or an ack that never came)",
            ["consumer", "type"],
        )
    )


metrics = KitMetrics()
