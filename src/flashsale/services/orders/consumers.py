"""What the order service does when the inventory reports on a reservation.

Each report is recorded on the order's checkout saga through the inbox (kit.inbox.apply_once), so a
redelivered event changes nothing, and the saga worker is woken to act on it after the commit (a
deduction's commit claims the saga as well, and hands it to the worker to run on at once):

    ReservationConfirmed   the stock step is done: capture and ship next
    ReservationExpired     an unpaid order's hold ran out: compensate (hold_expired)
    ReservationRejected    a paid order's stock could not be deducted: compensate (stock_unavailable)
    ReservationRevoked     the warehouse lost the units, held or sold: compensate (stock_unavailable)

Handlers make no remote calls: refunds, releases and cancellations are the saga's steps. A
fetched batch of reports is recorded in one transaction (`record_reports`): under a crowd the
deductions of many orders arrive together.

From the customers service, CustomerUpdated keeps the order service's copy of each customer's
contact (`customer_events`): a profile replaces the copy only when its version is newer, so
duplicates and events arriving out of order leave the newest version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
from flashsale.kit.envelope import Envelope, nats_subject
from flashsale.kit.faults import crash_point
from flashsale.kit.inbox import applied, apply_batch_once, apply_once
from flashsale.kit.routing import EventRoutes
from flashsale.kit.trace_points import consuming
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.orders import domain, metrics
from flashsale.services.orders.saga import CheckoutSaga
from flashsale.services.orders.store import Claimed, Order, OrderStore, get_txn
from flashsale.services.orders.store import sagas as saga_sql
from flashsale.services.orders.store.contacts import apply_txn as apply_contact_txn

CONSUMER = "orders"
PRODUCER = "inventory"
# Reports on different reservations commute (each moves its own order's saga), so up to this many
# are handled side by side; one reservation's reports keep their order (kit.bus lanes).
CONCURRENCY = 8
CONTACTS_CONSUMER = "orders-contacts"


@dataclass(frozen=True)
class Checkouts:
    """What the reservation handlers act on: the orders and their sagas."""

    db: Database
    store: OrderStore
    saga: CheckoutSaga
    clock: Clock


# What a report does to its order's saga, inside the transaction that records it (the order
# exists): a deduction claims the saga to run on (Claimed), or makes it due (None: another runner
# holds it); a compensation answers whether it turned the saga.
Effect = Callable[[Checkouts, AsyncConnection, str], Awaitable[Claimed | bool | None]]


async def stock_deducted_txn(checkouts: Checkouts, conn: AsyncConnection, order_id: str) -> Claimed | None:
    """The stock step recorded and the saga claimed in one commit; then run on (capture, shipment)
    by this instance's worker. Should this process die in between, the claim's lease runs out and
    the saga is due then, for any instance's worker."""
    return await checkouts.saga.stock_deducted_txn(conn, order_id)


async def hold_expired_txn(checkouts: Checkouts, conn: AsyncConnection, order_id: str) -> bool:
    # The saga's row first: a payment being recorded holds it (saga_sql.hold_txn), so the order
    # read next is as that payment left it. Read before the lock, an order being paid looked
    # unpaid, and a buyer told "paid" had the order cancelled, hold_expired.
    await saga_sql.lock_txn(conn, order_id)
    order = await get_txn(conn, order_id)
    # A paid order keeps going: the inventory re-takes the stock or rejects the deduction.
    if order is None or order.status != domain.PENDING_PAYMENT:
        return False
    return await checkouts.saga.compensate_txn(conn, order_id, domain.HOLD_EXPIRED)


async def stock_unavailable_txn(checkouts: Checkouts, conn: AsyncConnection, order_id: str) -> bool:
    """A paid order's stock could not be deducted, or the warehouse lost its units."""
    return await checkouts.saga.compensate_txn(conn, order_id, domain.STOCK_UNAVAILABLE)


RESERVATION_ROUTES: EventRoutes[Effect] = EventRoutes({
    ReservationConfirmed: stock_deducted_txn,
    ReservationExpired: hold_expired_txn,
    ReservationRejected: stock_unavailable_txn,
    ReservationRevoked: stock_unavailable_txn,
})


@dataclass(frozen=True)
class _Report:
    envelope: Envelope
    order_id: str | None  # None: a hold taken outside any order
    effect: Effect


def _report(envelope: Envelope) -> _Report | None:
    routed = RESERVATION_ROUTES.route(envelope)  # a malformed payload raises: retried, then dead-lettered
    if routed is None:
        return None
    fact, effect = routed
    return _Report(envelope, fact.order_id, effect)


async def record_report(checkouts: Checkouts, envelope: Envelope) -> None:
    """One report, in the transaction that records it in the inbox; then the saga acted on."""
    report = _report(envelope)
    if report is None or report.order_id is None:
        return
    order_id = report.order_id
    order = await checkouts.store.get(order_id)
    if order is None:
        # A hold taken for an order that was never recorded (its creation failed): nothing to
        # change. Skipped before the inbox write, so strangers' events cost one read. Events
        # about an order only exist once its row committed, so this never drops a real one.
        return

    async def recorded(uow: UnitOfWork, cause: Envelope) -> Claimed | bool | None:
        return await report.effect(checkouts, uow.conn, order_id)

    outcome = await apply_once(checkouts.db, CONSUMER, envelope, recorded, checkouts.clock)
    _recorded(checkouts, [(order, report, outcome)])


async def record_reports(checkouts: Checkouts, envelopes: Sequence[Envelope]) -> None:
    """A fetched batch of reports in one transaction: under a crowd the deductions of many
    orders arrive together, and each in a commit of its own queued for the database (SQLite's
    write lock) while the capture and shipment of its order waited. Reports on different orders
    commute; one order's keep their order (a stable sort by order id, which also takes the saga
    rows' locks in one order, so two batches sharing orders cannot deadlock on PostgreSQL). A
    batch that fails is delivered again one report at a time (kit.bus)."""
    reports = {envelope.id: _report(envelope) for envelope in envelopes}  # a malformed one raises first
    if len(envelopes) == 1 and await _deducted_at_once(checkouts, envelopes[0], reports[envelopes[0].id]):
        return

    async def effect(uow: UnitOfWork, fresh: list[Envelope]) -> list[tuple[Order, _Report, Claimed | bool | None]]:
        acted = []
        ours = [report for envelope in fresh if (report := reports[envelope.id]) is not None and report.order_id]
        for report in sorted(ours, key=lambda report: report.order_id or ""):
            assert report.order_id is not None
            # Each report's own consumer span, in its order's trace (the batch's span only links them).
            with consuming(CONSUMER, nats_subject(PRODUCER, report.envelope.type), report.envelope, None):
                order = await get_txn(uow.conn, report.order_id)
                if order is not None:  # (an order never recorded: see record_report)
                    acted.append((order, report, await report.effect(checkouts, uow.conn, report.order_id)))
        return acted

    _recorded(checkouts, await apply_batch_once(checkouts.db, CONSUMER, envelopes, effect, checkouts.clock))


async def _deducted_at_once(checkouts: Checkouts, envelope: Envelope, report: _Report | None) -> bool:
    """A batch of one deduction (no crowd): recorded with the saga claimed in one statement on
    PostgreSQL (`CheckoutSaga.stock_deducted_at_once`), then handed over. False: nothing written,
    the report goes the general way."""
    if report is None or report.effect is not stock_deducted_txn or report.order_id is None:
        return False
    order = await checkouts.store.get(report.order_id)
    if order is None:
        return False  # (an order never recorded: see record_report)
    with consuming(CONSUMER, nats_subject(PRODUCER, envelope.type), envelope, None):
        claimed = await checkouts.saga.stock_deducted_at_once(CONSUMER, envelope, order.order_id)
    if claimed is None:
        return False
    applied(CONSUMER, envelope)
    _recorded(checkouts, [(order, report, claimed)])
    return True


def _recorded(checkouts: Checkouts, acted: Sequence[tuple[Order, _Report, Claimed | bool | None]]) -> None:
    """After the commit: a claimed saga handed over to run on, the worker woken for one made due
    or turned (a report seen before wakes it too, for a deduction: a look costs little)."""
    if any(report.effect is stock_deducted_txn for _, report, _ in acted):
        crash_point("stock.recorded")
    for order, _, outcome in acted:
        if isinstance(outcome, Claimed):
            checkouts.saga.hand_over(outcome, order)
        elif outcome is not False:
            checkouts.saga.wake_worker()


def reservation_events(checkouts: Checkouts) -> Subscription:
    """The order service's durable subscription to the inventory's reports on reservations."""

    async def handle(envelope: Envelope) -> None:
        await record_report(checkouts, envelope)

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        await record_reports(checkouts, envelopes)

    return Subscription(consumer=CONSUMER, producer=PRODUCER, event_types=RESERVATION_ROUTES.event_types,
                        handler=handle, batch_handler=handle_batch, concurrency=CONCURRENCY)


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
