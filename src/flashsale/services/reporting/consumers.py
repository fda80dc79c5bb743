"""Every producer's events, kept in the reporting store exactly once.

One durable consumer per producer's stream, reading every subject of it: an event type added after
this projection is kept too (as it came), ready for the report that will ask about it. The bus
hands over what arrived within GATHER_S of a first event as one batch, the store writes it in one
transaction, and the bus acks after that. A batch that fails goes again one event at a time, so a
poison event is retried and dead-lettered alone while the others are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from flashsale.kit import propagation
from flashsale.kit.bus import Subscription
from flashsale.kit.clock import Clock, ms_from_iso
from flashsale.kit.envelope import Envelope
from flashsale.kit.telemetry import metrics
from flashsale.services.reporting.domain import Fact, fact_of
from flashsale.services.reporting.store import ReportStore

CONSUMER = "reporting"
# Nobody waits on the projection: the events of a fifth of a second go in one transaction, instead
# of one or two per transaction as a checkout's eight events trickle in.
GATHER_S = 0.2
# The NATS wildcard for "every subject below": `<producer>.>` is all of a producer's stream.
EVERY_TYPE = ">"


def every_event(store: ReportStore, producer: str, clock: Clock) -> Subscription:
    """The projection's durable subscription to one producer's stream."""

    async def record_batch(envelopes: Sequence[Envelope]) -> None:
        facts = [fact_from(envelope, producer) for envelope in envelopes]  # a malformed one raises
        stored = await store.record(facts, clock.now_ms())
        _count(envelopes, stored)

    async def record_one(envelope: Envelope) -> None:
        await record_batch([envelope])

    return Subscription(consumer=CONSUMER, producer=producer, event_types=[EVERY_TYPE], handler=record_one,
                        batch_handler=record_batch, gather_s=GATHER_S)


def fact_from(envelope: Envelope, producer: str) -> Fact:
    return fact_of(event_id=envelope.id, type=envelope.type, producer=producer, subject=envelope.subject,
                   happened_ms=ms_from_iso(envelope.time), data=envelope.data)


def _count(envelopes: Sequence[Envelope], stored: set[str]) -> None:
    """Each event newly stored counts once as applied (with its propagation latency); every
    other copy, in this batch or stored before, as a duplicate."""
    counted: set[str] = set()
    for envelope in envelopes:
        if envelope.id in stored and envelope.id not in counted:
            counted.add(envelope.id)
            metrics.consumed.labels(CONSUMER, envelope.type, "applied").inc()
            propagation.watch.applied(CONSUMER, envelope)
        else:
            metrics.consumed.labels(CONSUMER, envelope.type, "duplicate").inc()
