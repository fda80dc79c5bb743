"""What the order service does when the inventory reports on a reservation.

Each report is recorded on the order's checkout saga through the inbox (kit.inbox.apply_once), so a
redelivered event changes nothing, and the saga worker is woken to act on it after the commit (a
deduction's commit claims the saga as well, and hands it to the worker to run on at once):

    ReservationConfirmed   the stock step is done: capture and ship next
    ReservationExpired     an unpaid order's hold ran out: compensate (hold_expired)
    ReservationRejected    a paid order's stock could not be deducted: compensate (stock_unavailable)
    ReservationRevoked     the warehouse lost the units, held or sold: compensate (stock_unavailable)

Handlers make no remote calls: refunds, releases and cancellations are the saga's steps.

From the customers service, CustomerUpdated keeps the order service's copy of each customer's
contact (`customer_events`): a profile replaces the copy only when its version is newer, so
duplicates and events arriving out of order leave the newest version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import (
    CustomerUpdated,
    ReservationConfirmed,
    ReservationExpired,
    ReservationRejected,
    ReservationRevoked,
)
from flashsale.kit.bus import Subscription
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.faults import crash_point
from flashsale.kit.inbox import apply_once
from flashsale.kit.routing import EventRoutes
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.orders import domain, metrics
from flashsale.services.orders.saga import CheckoutSaga
from flashsale.services.orders.store import Order, OrderStore, get_txn
from flashsale.services.orders.store import sagas as saga_sql
from flashsale.services.orders.store.contacts import apply_txn as apply_contact_txn

CONSUMER = "orders"
# Reports on different reservations commute (each moves its own order's saga), so up to this many
# are handled side by side; one reservation's reports keep their order (kit.bus lanes).
CONCURRENCY = 8
CONTACTS_CONSUMER = "orders-contacts"
T = TypeVar("T")

# What a report means for the order as it is now: whether to act at all.
Effect = Callable[[AsyncConnection, str], Awaitable[bool]]


@dataclass(frozen=True)
class Checkouts:
    """What the reservation handlers act on: the orders and their sagas."""

    db: Database
    store: OrderStore
    saga: CheckoutSaga
    clock: Clock


async def stock_deducted(checkouts: Checkouts, fact: ReservationConfirmed, envelope: Envelope) -> None:
    """The step recorded and the saga claimed in one commit; then run on (capture, shipment) by
    this instance's worker. Should this process die in between, the claim's lease runs out and
    the saga is due then, for any instance's worker."""
    recorded = await _record(checkouts, envelope, fact.order_id, checkouts.saga.stock_deducted_txn)
    crash_point("stock.recorded")
    if recorded is None:
        return
    order, claimed = recorded
    if claimed is not None:
        checkouts.saga.hand_over(claimed, order)
    else:
        checkouts.saga.wake_worker()  # made due (another runner held it), or seen before: a look costs little


async def hold_expired(checkouts: Checkouts, fact: ReservationExpired, envelope: Envelope) -> None:
    if fact.order_id is None:
        return  # a hold taken outside any order

    async def effect(conn: AsyncConnection, order_id: str) -> bool:
        # The saga's row first: a payment being recorded holds it (saga_sql.hold_txn), so the
        # order read next is as that payment left it. Read before the lock, an order being
        # paid looked unpaid, and a buyer told "paid" had the order cancelled, hold_expired.
        await saga_sql.lock_txn(conn, order_id)
        order = await get_txn(conn, order_id)
        # A paid order keeps going: the inventory re-takes the stock or rejects the deduction.
        if order is None or order.status != domain.PENDING_PAYMENT:
            return False
        return await checkouts.saga.compensate_txn(conn, order_id, domain.HOLD_EXPIRED)

    await _apply(checkouts, envelope, fact.order_id, effect)


async def stock_rejected(checkouts: Checkouts, fact: ReservationRejected, envelope: Envelope) -> None:
    async def effect(conn: AsyncConnection, order_id: str) -> bool:
        return await checkouts.saga.compensate_txn(conn, order_id, domain.STOCK_UNAVAILABLE)

    await _apply(checkouts, envelope, fact.order_id, effect)


async def stock_revoked(checkouts: Checkouts, fact: ReservationRevoked, envelope: Envelope) -> None:
    if fact.order_id is None:
        return

    async def effect(conn: AsyncConnection, order_id: str) -> bool:
        return await checkouts.saga.compensate_txn(conn, order_id, domain.STOCK_UNAVAILABLE)

    await _apply(checkouts, envelope, fact.order_id, effect)


async def _apply(checkouts: Checkouts, envelope: Envelope, order_id: str, effect: Effect) -> None:
    recorded = await _record(checkouts, envelope, order_id, effect)
    if recorded is not None and recorded[1]:
        checkouts.saga.wake_worker()


async def _record(
    checkouts: Checkouts, envelope: Envelope, order_id: str, effect: Callable[[AsyncConnection, str], Awaitable[T]],
) -> tuple[Order, T | None] | None:
    """The order, and what `effect` answered once committed with the event's inbox row (None:
    the event was handled before); None for an event about an order that does not exist."""
    order = await checkouts.store.get(order_id)
    if order is None:
        # A hold taken for an order that was never recorded (its creation failed): nothing to
        # change. Skipped before the inbox write, so strangers' events cost one read. Events
        # about an order only exist once its row committed, so this never drops a real one.
        return None

    async def recorded(uow: UnitOfWork, cause: Envelope) -> T:
        return await effect(uow.conn, order_id)

    return order, await apply_once(checkouts.db, CONSUMER, envelope, recorded, checkouts.clock)


# Each handler takes the fact its event states, already parsed (`Any`: each its own class).
Handler = Callable[[Checkouts, Any, Envelope], Awaitable[None]]
RESERVATION_ROUTES: EventRoutes[Handler] = EventRoutes({
    ReservationConfirmed: stock_deducted,
    ReservationExpired: hold_expired,
    ReservationRejected: stock_rejected,
    ReservationRevoked: stock_revoked,
})


def reservation_events(checkouts: Checkouts) -> Subscription:
    """The order service's durable subscription to the inventory's reports on reservations."""

    async def handle(envelope: Envelope) -> None:
        routed = RESERVATION_ROUTES.route(envelope)
        if routed is not None:
            fact, handler = routed
            await handler(checkouts, fact, envelope)

    return Subscription(consumer=CONSUMER, producer="inventory", event_types=RESERVATION_ROUTES.event_types,
                        handler=handle, concurrency=CONCURRENCY)


async def customer_updated(db: Database, clock: Clock, fact: CustomerUpdated, envelope: Envelope) -> None:
    """CustomerUpdated -> the copy of the customer's contact, newest version wins."""
    contact = domain.Contact(fact.customer_id, fact.name, fact.email, fact.version)

    async def effect(uow: UnitOfWork, cause: Envelope) -> bool:
        return await apply_contact_txn(uow.conn, contact, clock.now_ms())

    written = await apply_once(db, CONTACTS_CONSUMER, envelope, effect, clock)
    if written is not None:  # None: seen before
        metrics.contact_events.labels("applied" if written else "stale").inc()


CUSTOMER_ROUTES: EventRoutes[Callable[[Database, Clock, Any, Envelope], Awaitable[None]]] = EventRoutes({
    CustomerUpdated: customer_updated,
})


def customer_events(db: Database, clock: Clock) -> Subscription:
    """The order service's durable subscription to the customers' profile changes."""

    async def handle(envelope: Envelope) -> None:
        routed = CUSTOMER_ROUTES.route(envelope)
        if routed is not None:
            fact, handler = routed
            await handler(db, clock, fact, envelope)

    return Subscription(consumer=CONTACTS_CONSUMER, producer="customers", event_types=CUSTOMER_ROUTES.event_types,
                        handler=handle)
