"""What the order service does when the inventory reports on a reservation.

Each report is recorded on the order's checkout saga through the inbox (kit.inbox.apply_once), so a
redelivered event changes nothing, and the saga worker is woken to act on it after the commit:

    ReservationConfirmed   the stock step is done: capture and ship next
    ReservationExpired     an unpaid order's hold ran out: compensate (hold_expired)
    ReservationRejected    a paid order's stock could not be deducted: compensate (stock_unavailable)
    ReservationRevoked     the warehouse lost the units, held or sold: compensate (stock_unavailable)

Handlers make no remote calls: refunds, releases and cancellations are the saga's steps.

From the customers service, CustomerUpdated keeps the order service's copy of each customer's
contact (`CustomerEvents`): a profile replaces the copy only when its version is newer, so
duplicates and events arriving out of order leave the newest version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.orders import domain, metrics
from flashsale.services.orders.saga import CheckoutSaga
from flashsale.services.orders.store import OrderStore, get_txn
from flashsale.services.orders.store import sagas as saga_sql
from flashsale.services.orders.store.contacts import apply_txn as apply_contact_txn

CONSUMER = "orders"
# Reports on different reservations commute (each moves its own order's saga), so up to this many
# are handled side by side; one reservation's reports keep their order (kit.bus lanes).
CONCURRENCY = 8
CONTACTS_CONSUMER = "orders-contacts"

# What a report means for the order as it is now: whether to act at all.
Effect = Callable[[AsyncConnection, str], Awaitable[bool]]


class ReservationEvents:
    def __init__(self, db: Database, store: OrderStore, saga: CheckoutSaga, clock: Clock) -> None:
        self.db = db
        self.store = store
        self.saga = saga
        self.clock = clock
        self.handlers: dict[str, Callable[[Envelope], Awaitable[None]]] = {
            "ReservationConfirmed": self.stock_deducted,
            "ReservationExpired": self.hold_expired,
            "ReservationRejected": self.stock_rejected,
            "ReservationRevoked": self.stock_revoked,
        }

    def subscription(self) -> Subscription:
        return Subscription(consumer=CONSUMER, producer="inventory", event_types=list(self.handlers),
                            handler=self.handle, concurrency=CONCURRENCY)

    async def handle(self, envelope: Envelope) -> None:
        handler = self.handlers.get(envelope.type)
        if handler is not None:
            await handler(envelope)

    async def stock_deducted(self, envelope: Envelope) -> None:
        event = ReservationConfirmed.model_validate(envelope.data)
        await self._apply(envelope, event.order_id, self.saga.stock_deducted_txn)
        crash_point("stock.recorded")

    async def hold_expired(self, envelope: Envelope) -> None:
        event = ReservationExpired.model_validate(envelope.data)
        if event.order_id is None:
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
            return await self.saga.compensate_txn(conn, order_id, domain.HOLD_EXPIRED)

        await self._apply(envelope, event.order_id, effect)

    async def stock_rejected(self, envelope: Envelope) -> None:
        event = ReservationRejected.model_validate(envelope.data)

        async def effect(conn: AsyncConnection, order_id: str) -> bool:
            return await self.saga.compensate_txn(conn, order_id, domain.STOCK_UNAVAILABLE)

        await self._apply(envelope, event.order_id, effect)

    async def stock_revoked(self, envelope: Envelope) -> None:
        event = ReservationRevoked.model_validate(envelope.data)
        if event.order_id is None:
            return

        async def effect(conn: AsyncConnection, order_id: str) -> bool:
            return await self.saga.compensate_txn(conn, order_id, domain.STOCK_UNAVAILABLE)

        await self._apply(envelope, event.order_id, effect)

    async def _apply(self, envelope: Envelope, order_id: str, effect: Effect) -> None:
        if await self.store.get(order_id) is None:
            # A hold taken for an order that was never recorded (its creation failed): nothing to
            # change. Skipped before the inbox write, so strangers' events cost one read. Events
            # about an order only exist once its row committed, so this never drops a real one.
            return

        async def recorded(uow: UnitOfWork, cause: Envelope) -> bool:
            return await effect(uow.conn, order_id)

        if await apply_once(self.db, CONSUMER, envelope, recorded, self.clock):
            self.saga.wake_worker()


class CustomerEvents:
    """CustomerUpdated -> the copy of the customer's contact, newest version wins."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def subscription(self) -> Subscription:
        return Subscription(consumer=CONTACTS_CONSUMER, producer="customers", event_types=["CustomerUpdated"],
                            handler=self.customer_updated)

    async def customer_updated(self, envelope: Envelope) -> None:
        if envelope.type != "CustomerUpdated":
            return
        event = CustomerUpdated.model_validate(envelope.data)
        contact = domain.Contact(event.customer_id, event.name, event.email, event.version)

        async def effect(uow: UnitOfWork, cause: Envelope) -> bool:
            return await apply_contact_txn(uow.conn, contact, self.clock.now_ms())

        written = await apply_once(self.db, CONTACTS_CONSUMER, envelope, effect, self.clock)
        if written is not None:  # None: seen before
            metrics.contact_events.labels("applied" if written else "stale").inc()
