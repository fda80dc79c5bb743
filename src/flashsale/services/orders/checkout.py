"""Checkout: place an order on a hold, pay it, cancel it.

Remote calls (inventory, payments) never run inside a database transaction; each local change is
one conditional status update plus its event. When a remote step succeeded and the local one
cannot follow (the order moved meanwhile), the remote step is compensated on the spot: a charge
for an order that was cancelled meanwhile is refunded, a hold whose order could not be written
is released.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog

from flashsale.kit.clock import Clock
from flashsale.kit.errors import DependencyUnavailable
from flashsale.services.orders import domain
from flashsale.services.orders.clients import InventoryClient, PaymentOutcome, PaymentsClient
from flashsale.services.orders.errors import (
    HoldExpired,
    InvalidState,
    PaymentDeclined,
    UnknownOrder,
)
from flashsale.services.orders.store import Order, OrderStore

log = structlog.get_logger(__name__)

# A cancel re-reads the order when a concurrent request moved it under its feet; a few rounds
# are plenty, since every round means the order reached a later state.
CANCEL_ROUNDS = 3


class Checkout:
    def __init__(
        self, store: OrderStore, inventory: InventoryClient, payments: PaymentsClient, clock: Clock,
        *, unit_price_cents: int,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.payments = payments
        self.clock = clock
        self.unit_price_cents = unit_price_cents

    async def find(self, order_id: str) -> Order:
        order = await self.store.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        return order

    # -- placing --------------------------------------------------------------------------

    async def place(self, customer_id: str, lines: Sequence[domain.Line]) -> Order:
        """Hold the stock, then record the order. No hold, no order."""
        order_id = str(uuid.uuid4())  # first, so the hold is idempotent per order across retries
        hold = await self.inventory.reserve(order_id, customer_id, lines)
        now = self.clock.now_ms()
        order = Order(
            order_id=order_id, customer_id=customer_id, status=domain.PENDING_PAYMENT, status_reason=None,
            reservation_id=hold.reservation_id, expires_at_ms=hold.expires_at_ms,
            amount_cents=domain.amount_cents(lines, self.unit_price_cents),
            created_at_ms=now, updated_at_ms=now, paid_at_ms=None, lines=tuple(lines),
        )
        try:
            await self.store.create(order)
        except Exception:
            # Give the hold back at once. Should this process die right here instead, nobody
            # calls release: the hold then expires by its TTL and the inventory's sweeper returns
            # the stock. That expiry is the designed answer to this crash, not a leak.
            await self._release_quietly(hold.reservation_id)
            raise
        return order

    # -- paying ---------------------------------------------------------------------------

    async def pay(self, order_id: str, token: str) -> Order:
        order = await self.find(order_id)
        decision = domain.pay(order.status, order.status_reason, order.expires_at_ms, self.clock.now_ms())
        if decision is domain.Pay.ALREADY_PAID:
            return order  # payments are per order: a repeated pay changes nothing
        if decision is domain.Pay.HOLD_EXPIRED:
            raise HoldExpired(order_id)
        if decision is domain.Pay.INVALID_STATE:
            raise InvalidState(order_id, order.status)
        outcome = await self.payments.charge(order_id, order.amount_cents, token)
        if outcome.approved:
            return await self._record_paid(order)
        await self._record_declined(order, outcome)
        raise PaymentDeclined(order_id, outcome.reason)

    async def _record_paid(self, order: Order) -> Order:
        moved = await self.store.move(order.order_id, domain.PAID, only_from=[domain.PENDING_PAYMENT])
        if moved.order.status in (domain.PAID, domain.COMPLETED):
            return moved.order  # ours, or a concurrent pay of the same order won: same payment
        # Cancelled while we charged (its hold expired, or the customer cancelled): the money
        # must go back before we say no.
        await self.payments.refund(order.order_id)
        log.warning("charge_refunded_for_cancelled_order", order_id=order.order_id,
                    reason=moved.order.status_reason)
        if moved.order.status_reason == domain.HOLD_EXPIRED:
            raise HoldExpired(order.order_id)
        raise InvalidState(order.order_id, moved.order.status)

    async def _record_declined(self, order: Order, outcome: PaymentOutcome) -> None:
        await self.store.move(order.order_id, domain.CANCELLED, only_from=[domain.PENDING_PAYMENT],
                              reason=domain.PAYMENT_DECLINED)
        # OrderCancelled (just committed) is the durable way the hold goes back; this call only
        # makes the unit available again at once.
        await self._release_quietly(order.reservation_id)

    # -- cancelling -----------------------------------------------------------------------

    async def cancel(self, order_id: str) -> Order:
        for _ in range(CANCEL_ROUNDS):
            order = await self.find(order_id)
            decision = domain.cancel(order.status)
            if decision is domain.Cancel.INVALID_STATE:
                raise InvalidState(order_id, order.status)
            if decision is domain.Cancel.REFUND:
                return await self._refund_and_cancel(order)
            moved = await self.store.move(order_id, domain.CANCELLED, only_from=[domain.PENDING_PAYMENT],
                                          reason=domain.CUSTOMER_CANCELLED)
            if moved.changed:
                await self._release_quietly(order.reservation_id)
                return moved.order
            # Paid or cancelled meanwhile: decide again on the order as it is now.
        raise InvalidState(order_id, (await self.find(order_id)).status)

    async def _refund_and_cancel(self, order: Order) -> Order:
        await self.payments.refund(order.order_id)
        # The deduction may have completed the order while we refunded: it is cancelled all the
        # same (the inventory reverses a deduction when it hears OrderCancelled).
        moved = await self.store.move(order.order_id, domain.CANCELLED,
                                      only_from=[domain.PAID, domain.COMPLETED], reason=domain.CUSTOMER_CANCELLED)
        return moved.order

    async def _release_quietly(self, reservation_id: str) -> None:
        """Best effort: when the inventory cannot be reached, its TTL sweeper or our
        OrderCancelled event returns the stock later."""
        try:
            await self.inventory.release(reservation_id)
        except DependencyUnavailable as exc:
            log.warning("release_deferred", reservation_id=reservation_id, error=str(exc))
