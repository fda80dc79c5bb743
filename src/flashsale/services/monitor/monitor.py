"""Every few seconds, a sampled consistency round over the house's APIs (flashsale.consistency);
its result is kept for GET /consistency and exported as gauges and counters.

A model skipped in a round (its services are not configured or not reachable) leaves its gauge
as it was: an unknown is not a match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog

from flashsale.consistency.compare import ModelResult
from flashsale.consistency.sampler import ConsistencySampler
from flashsale.kit.clock import Clock, iso_from_ms
from flashsale.kit.waiting import wait_set
from flashsale.services.monitor import metrics

log = structlog.get_logger(__name__)

RETRY_S = 2.0


class Monitor:
    def __init__(self, sampler: ConsistencySampler, clock: Clock, *, interval_s: float) -> None:
        self.sampler = sampler
        self.clock = clock
        self.interval_s = interval_s
        self.last: dict[str, Any] | None = None

    async def check_once(self) -> dict[str, Any]:
        started = self.clock.now_ms()
        results = await self.sampler.round()
        self.last = {"startedAt": iso_from_ms(started), "finishedAt": iso_from_ms(self.clock.now_ms()),
                     "models": [r.to_json() for r in results]}
        _export(results)
        return self.last

    async def run(self, stop: asyncio.Event) -> None:
        """A round, then the interval, until the service stops. While a service does not answer
        (the house is still starting, one is restarting) the next round comes sooner."""
        while not stop.is_set():
            pause = self.interval_s
            try:
                last = await self.check_once()
                if any(model.get("unreachable") for model in last["models"]):
                    pause = min(pause, RETRY_S)
            except Exception:  # a failed round is logged; the next one tries again
                log.exception("consistency_round_failed")
            await wait_set(stop, pause)


def _export(results: Sequence[ModelResult]) -> None:
    metrics.rounds.inc()
    for result in results:
        if not result.compared:
            continue
        metrics.sampled.labels(result.model).inc(result.sampled)
        metrics.lagging.labels(result.model).inc(result.lagging)
        metrics.mismatches.labels(result.model).inc(len(result.drifted))
        ratio = result.match_ratio
        metrics.match_ratio.labels(result.model).set(1.0 if ratio is None else ratio)
        for drift in result.drifted[:5]:
            log.warning("consistency_drift", model=result.model, key=drift.key, source=drift.source, copy=drift.copy)
