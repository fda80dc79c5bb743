"""The order service's outcomes, turned into messages to the customer exactly once.

Routing is an explicit map from event type to the message it makes. The message is recorded
inside the inbox transaction (`kit.inbox.apply_batch_once` for what arrived together,
`apply_once` for one event), so a redelivered or twice-published event leaves one message. An
event that names no customer (older order events did not carry one) has nobody to tell: it is
acknowledged and skipped with a warning, never retried or dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from flashsale.contracts.events import OrderCancelled, OrderCompleted, OrderConfirmed
from flashsale.kit.bus import Subscription
from flashsale.kit.envelope import Envelope, nats_subject
from flashsale.kit.inbox import apply_batch_once, apply_once
from flashsale.kit.routing import EventRoutes
from flashsale.kit.trace_points import consuming
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.notifications import domain, metrics
from flashsale.services.notifications.store import Notification, NotificationStore

log = structlog.get_logger(__name__)

CONSUMER = "notifications"
PRODUCER = "orders"
# Each order's notifications are its own: different orders' events are handled side by side,
# one order's in the order they happened (kit.bus lanes).
CONCURRENCY = 8
NO_CUSTOMER = "no_customer"
# Nobody waits on a message to the customer for a moment: the events of a fifth of a second go in
# one transaction (a checkout's two would otherwise take one each).
GATHER_S = 0.2


@dataclass(frozen=True)
class Outcome:
    """Who is told what about one order event; `customer_id` None: nobody to tell."""

    customer_id: str | None
    message: domain.Message


# Who is told what, from the fact its event states (each takes its own class: `Any`).
Compose = Callable[[Any], Outcome]


def tell_confirmed(fact: OrderConfirmed) -> Outcome:
    return Outcome(fact.customer_id, domain.order_confirmed(fact.order_id))


def tell_completed(fact: OrderCompleted) -> Outcome:
    return Outcome(fact.customer_id, domain.order_completed(fact.order_id))


def tell_cancelled(fact: OrderCancelled) -> Outcome:
    return Outcome(fact.customer_id, domain.order_cancelled(fact.order_id, fact.reason, fact.refunded))


ORDER_ROUTES: EventRoutes[Compose] = EventRoutes({
    OrderConfirmed: tell_confirmed,
    OrderCompleted: tell_completed,
    OrderCancelled: tell_cancelled,
})


def order_outcomes(store: NotificationStore) -> Subscription:
    """The notifications service's durable subscription to the order service's stream: what
    arrives within GATHER_S goes in one inbox transaction (`record_batch_once`); a batch that
    fails goes again one event at a time, each order's events in their order (`CONCURRENCY`)."""

    async def handle(envelope: Envelope) -> None:
        told = _outcome_of(envelope)
        if told is not None:
            await record_once(store, envelope, *told)

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        await record_batch_once(store, envelopes)

    return Subscription(consumer=CONSUMER, producer=PRODUCER, event_types=ORDER_ROUTES.event_types, handler=handle,
                        batch_handler=handle_batch, concurrency=CONCURRENCY, gather_s=GATHER_S)


def _outcome_of(envelope: Envelope) -> tuple[str, domain.Message] | None:
    """Who is told what about this event; None (with a warning) when nobody is."""
    routed = ORDER_ROUTES.route(envelope)  # a malformed payload raises: retried, then dead-lettered
    if routed is None:
        log.warning("unexpected_event", type=envelope.type, id=envelope.id)
        return None
    fact, compose = routed
    outcome = compose(fact)
    if outcome.customer_id is None:
        metrics.skipped.labels(NO_CUSTOMER).inc()
        log.warning("notification_skipped", reason=NO_CUSTOMER, type=envelope.type, id=envelope.id,
                    order_id=outcome.message.order_id)
        return None
    return outcome.customer_id, outcome.message


async def record_batch_once(store: NotificationStore, envelopes: Sequence[Envelope]) -> list[Notification]:
    """Record the messages of the batch's events not handled before, in one inbox transaction."""
    outcomes = {envelope.id: _outcome_of(envelope) for envelope in envelopes}  # a malformed one raises first

    async def effect(uow: UnitOfWork, fresh: list[Envelope]) -> list[Notification]:
        recorded = []
        for envelope in fresh:
            told = outcomes[envelope.id]
            if told is None:
                continue
            # Each event's own consumer span, in its order's trace (the batch's span only links them).
            with consuming(CONSUMER, nats_subject(PRODUCER, envelope.type), envelope, None):
                notification = await store.record_txn(uow.conn, *told, envelope.id)
            if notification is not None:
                recorded.append(notification)
        return recorded

    recorded = await apply_batch_once(store.db, CONSUMER, envelopes, effect, store.clock)
    for notification in recorded:  # counted only once committed
        metrics.recorded.labels(notification.kind).inc()
    return recorded


async def record_once(
    store: NotificationStore, envelope: Envelope, customer_id: str, message: domain.Message
) -> Notification | None:
    """Record the message in the event's inbox transaction; None when the event was seen before."""

    async def effect(uow: UnitOfWork, env: Envelope) -> Notification | None:
        return await store.record_txn(uow.conn, customer_id, message, env.id)

    # None: the event was seen before, or recorded nothing new.
    notification = await apply_once(store.db, CONSUMER, envelope, effect, store.clock)
    if notification is not None:  # counted only once committed
        metrics.recorded.labels(notification.kind).inc()
    return notification
