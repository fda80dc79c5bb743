"""Checkout as the buyer sees it: place an order on a hold, pay it, cancel it.

Placing takes the hold and records the order with its saga. Paying and cancelling hand over to
the checkout saga (saga.py), which checkpoints every step and undoes what it must; this module
only turns where the saga stands into the answer the request gets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from flashsale.kit.clock import Clock
from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.faults import crash_point
from flashsale.kit.idempotency import Answer, KeyTicket
from flashsale.kit.tracing import journey, journey_span
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.orders import domain
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.clients import InventoryClient
from flashsale.services.orders.domain import Contact, Snapshot
from flashsale.services.orders.errors import (
    HoldExpired,
    InvalidState,
    OutOfStock,
    PaymentDeclined,
    RequestInProgress,
    UnknownOrder,
)
from flashsale.services.orders.pricing import PriceList
from flashsale.services.orders.saga import CheckoutSaga, Keyed, PayAnswer
from flashsale.services.orders.store import Claimed, Order, OrderStore, Saga, SagaStore, get_txn
from flashsale.services.orders.store import sagas as saga_sql

log = structlog.get_logger(__name__)

# How long a request waits for another runner (the worker, another request) that holds the saga:
# a payment may take ~10 s (the slow provider path, retries); a cancel's steps are quick.
PAYMENT_WAIT_S = 12.0
CANCEL_WAIT_S = 5.0
POLL_S = 0.05


@dataclass(frozen=True)
class Paid:
    """A pay's outcome: the order as paid (or as it was, already paid) and, when the payment's
    commit stored it under the request's Idempotency-Key, the answer it stored (None: not stored):
    the paid order, or the decline (the order as it was before, then)."""

    order: Order
    answer: Answer | None = None


def refused_as_sold_out(lines: Sequence[domain.Line], sold_out: str | None) -> OutOfStock | None:
    """The refusal of lines that ask for the product the gateway's sold-out copy names (None: not
    refused on its word), as the inventory would answer."""
    if sold_out is not None and any(line.product_id == sold_out for line in lines):
        return OutOfStock(f"{sold_out} is sold out")
    return None


# A pay's Idempotency-Key, for its first transaction to take, and how it answers: with the paid
# order, or with the decline.
PayKey = tuple[KeyTicket, PayAnswer]


@dataclass(frozen=True)
class _PayStart:
    """What a pay's first transaction found and took: the order and its saga (None: no such order,
    or another customer's), what the order's state says of paying it, and the saga's lease when
    this request is to charge it now (the request's key, taken too, is its ticket's claim)."""

    order: Order | None
    saga: Saga | None
    decision: domain.Pay | None
    claimed: Claimed | None


class Checkout:
    def __init__(
        self, store: OrderStore, sagas: SagaStore, saga: CheckoutSaga, inventory: InventoryClient, clock: Clock,
        *, prices: PriceList,
    ) -> None:
        self.store = store
        self.sagas = sagas
        self.saga = saga
        self.inventory = inventory
        self.clock = clock
        self.prices = prices

    async def find(self, order_id: str) -> Order:
        order = await self.store.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        return order

    async def find_with_contact(self, order_id: str) -> tuple[Order, Contact | None]:
        """The order and its customer's contact (the order's page shows both), in one read."""
        found = await self.store.get_with_contact(order_id)
        if found is None:
            raise UnknownOrder(order_id)
        return found

    async def find_saga(self, order_id: str) -> Saga:
        saga = await self.sagas.get(order_id)
        if saga is None:
            raise UnknownOrder(order_id)
        return saga

    # -- placing --------------------------------------------------------------------------

    async def place(
        self, customer_id: str, lines: Sequence[domain.Line], *, fulfilment: str = "all", keyed: Keyed | None = None,
        sold_out: str | None = None,
    ) -> Order:
        """Price the lines, hold the stock, then record the order and its saga. No hold, no order;
        a product that cannot be sold now is refused before anything is held. `keyed`: the
        request's Idempotency-Key and how it answers with the order, stored with it. `sold_out`: a
        product of the lines the gateway's sold-out copy refuses (api.SoldOutHint): OutOfStock, as
        the inventory would answer, without asking it or the catalog."""
        refused = refused_as_sold_out(lines, sold_out)
        if refused is not None:
            raise refused
        snapshots = await self.prices.snapshots([line.product_id for line in lines])
        order_id = str(uuid.uuid4())  # first, so the hold is idempotent per order across retries
        with journey(order_id, "order.place", {"order.id": order_id}):  # the root of the order's trace
            return await self._hold_and_record(order_id, customer_id, lines, snapshots, fulfilment, keyed)

    async def _hold_and_record(
        self, order_id: str, customer_id: str, lines: Sequence[domain.Line], snapshots: dict[str, Snapshot],
        fulfilment: str, keyed: Keyed | None,
    ) -> Order:
        hold = await self.inventory.reserve(order_id, customer_id, lines, fulfilment=fulfilment)
        crash_point("hold.called")
        now = self.clock.now_ms()
        granted = domain.priced(hold.lines, snapshots)  # partial fulfilment: only what was granted
        order = Order(
            order_id=order_id, customer_id=customer_id, status=domain.PENDING_PAYMENT, status_reason=None,
            reservation_id=hold.reservation_id, expires_at_ms=hold.expires_at_ms,
            amount_cents=domain.total_cents(granted),
            created_at_ms=now, updated_at_ms=now, paid_at_ms=None, lines=granted,
        )
        try:
            await self.store.create(order, answer=None if keyed is None else (keyed[0], keyed[1](order)))
        except Exception:
            # Give the hold back at once. Should this process die right here instead, nobody
            # calls release: the hold then expires by its TTL and the inventory's sweeper returns
            # the stock. That expiry is the designed answer to this crash, not a leak.
            await self._release_quietly(hold.reservation_id)
            raise
        return order

    # -- paying ---------------------------------------------------------------------------

    @journey_span("order.pay", key="order_id", attribute="order.id")
    async def pay(
        self, order_id: str, token: str, *, customer_id: str | None = None, keyed: PayKey | None = None,
    ) -> Paid:
        """Pay the order; with `customer_id`, only that customer's (another's is UnknownOrder, as
        if it did not exist: nothing tells the two apart). `keyed`: the request's Idempotency-Key,
        taken in the pay's first transaction, and how it answers with the paid order, stored with
        the payment when this request pays."""
        start = await self._start_paying(order_id, token, customer_id, None if keyed is None else keyed[0])
        order, saga = start.order, start.saga
        if order is None or saga is None:
            raise UnknownOrder(order_id)
        if start.decision is domain.Pay.ALREADY_PAID:
            return Paid(order)  # payments are per order: a repeated pay changes nothing
        if start.decision is domain.Pay.HOLD_EXPIRED:
            raise HoldExpired(order_id)
        if start.decision is domain.Pay.INVALID_STATE or saga.state != plan.RUNNING:
            raise self._refusal(order, saga, token)
        if start.claimed is None:
            # Another request (or instance) is paying this order right now: its outcome is ours.
            await self._wait_for_payment(order_id)
            return Paid(await self._paid_or_refused(order_id, None))
        key = None if keyed is None else keyed[0].claim
        answer_with = None if keyed is None or key is None else (key, keyed[1])
        paying = await self.saga.pay(start.claimed, order, token, answer_with)
        if paying.answer is not None:  # paid or declined by this request: no need to read the order again
            return Paid(paying.paid or order, paying.answer)
        if paying.paid is not None:
            return Paid(paying.paid)
        return Paid(await self._paid_or_refused(order_id, paying.stopped_by))

    async def _start_paying(
        self, order_id: str, token: str, customer_id: str | None, ticket: KeyTicket | None,
    ) -> _PayStart:
        """A pay's first transaction: the request's Idempotency-Key taken, the order read and, when
        it is to be charged now, the saga's lease taken with the payment begun: one commit where
        the key's claim and the lease were two. The lease is taken only from nobody and only while
        the saga is RUNNING, and the step it begins is decided on the saga as read under it
        (`claim_to_run_txn`): news that came after the order was read is acted on there. Not
        taken, the saga is read and then the order again (the saga first, as `_order_and_saga`
        says why), for the answer."""
        async def start(uow: UnitOfWork) -> _PayStart:
            conn = uow.conn
            if ticket is not None:
                await ticket.take_txn(conn)
            order = await get_txn(conn, order_id)
            if order is None or (customer_id is not None and order.customer_id != customer_id):
                return _PayStart(None, None, None, None)  # unknown (to this customer)
            decision = domain.pay(order.status, order.status_reason, order.expires_at_ms, self.clock.now_ms())
            claimed = await self.saga.claim_to_pay_txn(conn, order_id, token) if decision is domain.Pay.CHARGE else None
            if claimed is not None:
                return _PayStart(order, claimed.saga, decision, claimed)
            saga = await saga_sql.get_txn(conn, order_id)
            order = None if saga is None else await get_txn(conn, order_id)
            if order is None or saga is None:
                return _PayStart(None, None, None, None)
            decision = domain.pay(order.status, order.status_reason, order.expires_at_ms, self.clock.now_ms())
            return _PayStart(order, saga, decision, None)

        return await self.saga.writes.run(start)  # with the other pays' starts that come together

    async def _order_and_saga(self, order_id: str) -> tuple[Order, Saga]:
        """The order and its saga, in one read. The saga first: on PostgreSQL each statement of a
        read sees what was committed when it began, and the order moves in the same commits as
        its saga, so the order read after it is at least as far on (read the other way round, an
        order still unpaid could meet a saga already finished)."""
        async with self.store.db.read() as conn:
            saga = await saga_sql.get_txn(conn, order_id)
            order = None if saga is None else await get_txn(conn, order_id)
        if order is None or saga is None:
            raise UnknownOrder(order_id)
        return order, saga

    async def _wait_for_payment(self, order_id: str) -> None:
        deadline = time.monotonic() + PAYMENT_WAIT_S
        while time.monotonic() < deadline:
            saga = await self.find_saga(order_id)
            payment = saga.step(plan.PAYMENT)
            if saga.state != plan.RUNNING or (payment is not None and payment.status == plan.DONE):
                return
            await asyncio.sleep(POLL_S)
        raise RequestInProgress(order_id)

    async def _paid_or_refused(self, order_id: str, stopped_by: Exception | None) -> Order:
        order, saga = await self._order_and_saga(order_id)
        if order.status in (domain.PAID, domain.COMPLETED):
            return order
        payment = saga.step(plan.PAYMENT)
        if payment is not None and payment.outcome == plan.DECLINED:
            # The saga gives the hold back and cancels the order (now, or soon if a dependency
            # is down): the decline is the answer either way.
            raise PaymentDeclined(order_id, payment.detail)
        if saga.reason == domain.HOLD_EXPIRED:
            raise HoldExpired(order_id)
        if stopped_by is not None:
            raise stopped_by  # the payment's outcome is not known yet; the saga will find out
        if saga.state == plan.RUNNING:
            raise RequestInProgress(order_id)
        raise self._refusal(order, saga, saga.payment_token)

    @staticmethod
    def _refusal(order: Order, saga: Saga, token: str | None) -> Exception:
        """Why this order cannot be paid now. The same card declined before is declined again
        (a retry whose first answer was lost gets that answer); any other attempt is too late."""
        payment = saga.step(plan.PAYMENT)
        declined = payment is not None and payment.outcome == plan.DECLINED
        if declined and token is not None and token == saga.payment_token:
            return PaymentDeclined(order.order_id, payment.detail if payment else None)
        if saga.reason == domain.HOLD_EXPIRED:
            return HoldExpired(order.order_id)
        return InvalidState(order.order_id, order.status)

    # -- cancelling -----------------------------------------------------------------------

    @journey_span("order.cancel", key="order_id", attribute="order.id")
    async def cancel(self, order_id: str) -> Order:
        """The customer's cancel: decided at once (durably), carried out by the saga."""
        async with self.store.db.transaction() as conn:
            await saga_sql.lock_txn(conn, order_id)  # first: the order is then read as the saga's last step left it
            order = await get_txn(conn, order_id)
            if order is None:
                raise UnknownOrder(order_id)
            if domain.cancel(order.status) is domain.Cancel.INVALID_STATE:
                raise InvalidState(order_id, order.status)
            await self.saga.compensate_txn(conn, order_id, domain.CUSTOMER_CANCELLED)
        return await self._carried_out(order_id)

    async def _carried_out(self, order_id: str) -> Order:
        """Run the saga's compensations now, or wait a little for whoever is running them."""
        deadline = time.monotonic() + CANCEL_WAIT_S
        while True:
            stopped_by = await self.saga.resume(order_id)
            order = await self.find(order_id)
            if order.status == domain.CANCELLED:
                return order
            if stopped_by is not None:
                raise stopped_by  # a dependency is down: the saga retries and finishes later
            if time.monotonic() >= deadline:
                raise RequestInProgress(order_id)
            await asyncio.sleep(POLL_S)

    # -- operators ------------------------------------------------------------------------

    @journey_span("order.retry_saga", key="order_id", attribute="order.id")
    async def retry_saga(self, order_id: str) -> Saga:
        """Send a parked saga back to work (after the operator fixed what kept failing)."""
        async with self.store.db.transaction() as conn:
            saga = await saga_sql.lock_txn(conn, order_id)
            if saga is None:
                raise UnknownOrder(order_id)
            if saga.state != plan.NEEDS_ATTENTION:
                raise InvalidState(order_id, f"saga {saga.state}")
            state = plan.COMPENSATING if saga.reason else plan.RUNNING
            now = self.clock.now_ms()
            await saga_sql.set_state_txn(conn, order_id, state, now, due_at_ms=now)
        await self.saga.resume(order_id)
        return await self.find_saga(order_id)

    async def _release_quietly(self, reservation_id: str) -> None:
        """Best effort: when the inventory cannot be reached, its TTL sweeper returns the stock."""
        try:
            await self.inventory.release(reservation_id)
        except DependencyUnavailable as exc:
            log.warning("release_deferred", reservation_id=reservation_id, error=str(exc))
