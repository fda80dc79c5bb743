"""Propagation latency: how long an event took from happening to its effect committed in a consumer.

Every consumer measures it the same way, in `inbox.apply_once` once the effect's transaction has
committed: event time (the CloudEvents `time` of the envelope, stamped by the producer) to now,
into the histogram `event_propagation_seconds{consumer, type}`. This is the consistency window a
read model or a copy lags its source by. Above a threshold (settings.propagation_warn_ms) the
consumer also logs `slow_propagation`, so a lagging read model shows in the logs, not only in a
dashboard. Producer and consumer clocks are assumed to agree (one host, or NTP): a negative lag
from a clock ahead counts as 0.
"""

from __future__ import annotations

import time

import structlog

from flashsale.kit.clock import ms_from_iso
from flashsale.kit.envelope import Envelope
from flashsale.kit.telemetry import metrics

log = structlog.get_logger(__name__)

DEFAULT_WARN_MS = 2000


class PropagationWatch:
    """Records each applied event's propagation latency; warns about the slow ones."""

    def __init__(self, warn_ms: int = DEFAULT_WARN_MS) -> None:
        self.warn_ms = warn_ms

    def configure(self, warn_ms: int) -> None:
        self.warn_ms = warn_ms

    def applied(self, consumer: str, envelope: Envelope) -> float:
        """Record that `consumer` committed the effect of `envelope` just now; returns the lag in seconds."""
        lag_s = max(0.0, time.time() - ms_from_iso(envelope.time) / 1000)
        metrics.propagation.labels(consumer, envelope.type).observe(lag_s)
        if lag_s * 1000 > self.warn_ms:
            log.warning("slow_propagation", consumer=consumer, type=envelope.type, event_id=envelope.id,
                        seconds=round(lag_s, 3), threshold_ms=self.warn_ms)
        return lag_s


# One per process, like the metrics it feeds: the service runtime sets its threshold at start.
watch = PropagationWatch()
