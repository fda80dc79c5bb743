"""What the order service does when the inventory reports on a reservation.

Each handler applies its effect through the inbox (kit.inbox.apply_once), so a redelivered event
changes nothing. The effect re-reads the order inside its transaction, asks the domain what the
event means for the order as it is now, and applies that with a conditional status update.
A remote call an event needs (a refund) is made before that transaction; if it fails the handler
raises and the broker delivers the event again later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import ReservationConfirmed, ReservationExpired, ReservationRejected
from flashsale.kit.bus import Subscription
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.inbox import apply_once
from flashsale.services.orders import domain
from flashsale.services.orders.clients import PaymentsClient
from flashsale.services.orders.store import Order, OrderStore, get_txn

CONSUMER = "orders"

# What an event means for an order in a given status: (target status, reason) or None to leave it.
Decision = Callable[[Order], tuple[str, str | None] | None]


class PaidMeanwhile(Exception):
    """The order was paid between our look and our change: handle the event again from the top."""


class ReservationEvents:
    def __init__(self, db: Database, store: OrderStore, payments: PaymentsClient, clock: Clock) -> None:
        self.db = db
        self.store = store
        self.payments = payments
        self.clock = clock
        self.handlers: dict[str, Callable[[Envelope], Awaitable[None]]] = {
            "ReservationConfirmed": self.complete_order,
            "ReservationExpired": self.cancel_unpaid_order,
            "ReservationRejected": self.refund_and_cancel_order,
        }

    def subscription(self) -> Subscription:
        return Subscription(consumer=CONSUMER, producer="inventory", event_types=list(self.handlers),
                            handler=self.handle)

    async def handle(self, envelope: Envelope) -> None:
        handler = self.handlers.get(envelope.type)
        if handler is not None:
            await handler(envelope)

    async def complete_order(self, envelope: Envelope) -> None:
        event = ReservationConfirmed.model_validate(envelope.data)

        def decide(order: Order) -> tuple[str, str | None] | None:
            target = domain.on_reservation_confirmed(order.status)
            return None if target is None else (target, None)

        await self._apply(envelope, event.order_id, decide)

    async def cancel_unpaid_order(self, envelope: Envelope) -> None:
        event = ReservationExpired.model_validate(envelope.data)
        if event.order_id is None:
            return  # a hold taken outside any order

        def decide(order: Order) -> tuple[str, str | None] | None:
            target = domain.on_reservation_expired(order.status)
            return None if target is None else (target, domain.HOLD_EXPIRED)

        await self._apply(envelope, event.order_id, decide)

    async def refund_and_cancel_order(self, envelope: Envelope) -> None:
        event = ReservationRejected.model_validate(envelope.data)
        order = await self.store.get(event.order_id)
        if order is None:
            return
        refunded = domain.on_reservation_rejected(order.status) is domain.Rejected.REFUND_AND_CANCEL
        if refunded:
            await self.payments.refund(order.order_id)  # idempotent; failing here means: redeliver

        def decide(current: Order) -> tuple[str, str | None] | None:
            wanted = domain.on_reservation_rejected(current.status)
            if wanted is domain.Rejected.IGNORE:
                return None
            if wanted is domain.Rejected.REFUND_AND_CANCEL and not refunded:
                raise PaidMeanwhile(current.order_id)  # redelivered, and then refunded first
            return domain.CANCELLED, domain.STOCK_UNAVAILABLE

        await self._apply(envelope, event.order_id, decide)

    async def _apply(self, envelope: Envelope, order_id: str, decide: Decision) -> None:
        if await self.store.get(order_id) is None:
            # A hold taken for an order that was never recorded (its creation failed): nothing to
            # change. Skipped before the inbox write, so strangers' events cost one read. Events
            # about an order only exist once its row committed, so this never drops a real one.
            return

        async def effect(conn: AsyncConnection, cause: Envelope) -> None:
            order = await get_txn(conn, order_id)
            decision = None if order is None else decide(order)
            if order is None or decision is None:
                return
            target, reason = decision
            await self.store.move_txn(conn, order_id, target, only_from=[order.status], reason=reason,
                                      cause=cause)

        await apply_once(self.db, CONSUMER, envelope, effect, self.clock)
