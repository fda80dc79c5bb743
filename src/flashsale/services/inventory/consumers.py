"""The order service's facts, turned into stock moves exactly once.

Routing is an explicit map from event class to handler (`ORDER_ROUTES`, kit/routing.py). Each
handler runs inside the inbox transaction (`kit.inbox.apply_once`), so a redelivered or
twice-published event changes nothing the second time, and the events it causes are written to
the outbox in that same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from flashsale.contracts.events import OrderCancelled, OrderConfirmed
from flashsale.kit.bus import Subscription
from flashsale.kit.envelope import Envelope
from flashsale.kit.faults import failure_point
from flashsale.kit.inbox import applied, apply_once
from flashsale.kit.routing import EventRoutes
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.inventory import metrics
from flashsale.services.inventory.operations import Inventory

log = structlog.get_logger(__name__)

CONSUMER = "inventory"
# Different orders' events are handled side by side (each turns its own hold into a deduction or
# back into stock; the stock row's update is atomic), one order's in the order they arrive. That is
# usually the order they happened in, but a retried event comes after later ones: the rules do not
# rely on it (domain.py, "The order side's events in any order").
CONCURRENCY = 8
Changes = list[tuple[str, int]]
# A handler gets the fact its event states, already parsed (`Any`: each handler takes its own class).
Handler = Callable[[Inventory, UnitOfWork, Any, Envelope], Awaitable[Changes]]


async def deduct_confirmed_order(
    store: Inventory, uow: UnitOfWork, fact: OrderConfirmed, envelope: Envelope,
) -> Changes:
    failure_point("inventory.OrderConfirmed")  # fault tests: a hiccup, retried after later events
    return await store.confirm_order_txn(uow, fact.order_id, fact.reservation_id, envelope)


async def deduct_held_at_once(store: Inventory, fact: OrderConfirmed, envelope: Envelope) -> Changes | None:
    """The common case of `deduct_confirmed_order` in one statement with its inbox row (PostgreSQL;
    `Inventory.deduct_held_at_once`), or None: then the general way."""
    failure_point("inventory.OrderConfirmed")
    return await store.deduct_held_at_once(CONSUMER, fact.order_id, fact.reservation_id, envelope)


async def restore_cancelled_order(
    store: Inventory, uow: UnitOfWork, fact: OrderCancelled, envelope: Envelope,
) -> Changes:
    if fact.reservation_id is None:  # cancelled before any stock was held
        return []
    return await store.cancel_order_txn(uow, fact.order_id, fact.reservation_id, envelope)


ORDER_ROUTES: EventRoutes[Handler] = EventRoutes({
    OrderConfirmed: deduct_confirmed_order,
    OrderCancelled: restore_cancelled_order,
})


def order_events(store: Inventory) -> Subscription:
    """The inventory's durable subscription to the order service's stream."""

    async def handle(envelope: Envelope) -> None:
        routed = ORDER_ROUTES.route(envelope)
        if routed is None:
            log.warning("unexpected_event", type=envelope.type, id=envelope.id)
            return
        fact, handler = routed
        if isinstance(fact, OrderConfirmed):
            deducted = await deduct_held_at_once(store, fact, envelope)
            if deducted is not None:
                applied(CONSUMER, envelope)
                metrics.record_available(deducted)
                return

        async def effect(uow: UnitOfWork, env: Envelope) -> Changes:
            return await handler(store, uow, fact, env)

        changes = await apply_once(store.db, CONSUMER, envelope, effect, store.clock)
        if changes is not None:  # None: seen before
            metrics.record_available(changes)

    return Subscription(
        consumer=CONSUMER, producer="orders", event_types=ORDER_ROUTES.event_types, handler=handle,
        concurrency=CONCURRENCY,
    )
