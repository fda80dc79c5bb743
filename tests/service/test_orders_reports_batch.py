"""The order service's reservation reports handled a fetched batch at a time (one transaction):
each report's effect once, a report seen before (in the batch or earlier) changing nothing, and
every deducted order's saga claimed to run on, against real SQLite and PostgreSQL. What crosses
the broker is the service tests' and the system tests' (a sale's deductions arrive as batches)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from order_databases import order_instances

from flashsale.contracts.events import ReservationConfirmed, ReservationExpired
from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.services.orders import domain
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.consumers import Checkouts, reservation_events
from flashsale.services.orders.saga import CheckoutSaga, SagaSettings
from flashsale.services.orders.store import Order, OrderStore, SagaStore
from flashsale.services.orders.store import sagas as saga_sql

pytestmark = pytest.mark.service


@pytest.fixture
async def db(database_base: str) -> AsyncIterator[Database]:
    async with order_instances(database_base, count=1) as opened:
        yield opened[0]


def _report(clock: ManualClock, kind: str, order: Order) -> Envelope:
    fact = (ReservationConfirmed(reservation_id=order.reservation_id, order_id=order.order_id, items=[],
                                 confirmed_at="2026-12-07T08:00:00Z") if kind == "ReservationConfirmed"
            else ReservationExpired(reservation_id=order.reservation_id, order_id=order.order_id, items=[]))
    return Envelope.new(source="inventory", type=kind, subject=order.reservation_id, now_ms=clock.now_ms(),
                        data=fact.model_dump(by_alias=True, mode="json"))


async def _order(store: OrderStore, clock: ManualClock, status: str) -> Order:
    now = clock.now_ms()
    order = Order(
        order_id=f"o-{uuid.uuid4().hex[:12]}", customer_id="c-1", status=status, status_reason=None,
        reservation_id=f"r-{uuid.uuid4().hex[:12]}", expires_at_ms=now + 60_000, amount_cents=100,
        created_at_ms=now, updated_at_ms=now, paid_at_ms=None, lines=(domain.Line("p-1", 1),),
    )
    await store.create(order)
    if status == domain.PAID:  # its payment authorised, as the saga records it
        async with store.db.transaction() as conn:
            await saga_sql.finish_step_txn(conn, order.order_id, plan.PAYMENT, now, outcome=plan.AUTHORISED)
    return order


async def test_a_batch_of_reports_acts_once_on_each_order_and_hands_every_claimed_saga_over(db: Database) -> None:
    clock = ManualClock(int(time.time() * 1000))
    store, sagas = OrderStore(db, clock), SagaStore(db, clock, owner="consumer")
    saga = CheckoutSaga(db, store, sagas, None, None, None, clock, SagaSettings())  # type: ignore[arg-type]
    handed_over: list[str] = []
    saga.hand_over = lambda claimed, order: handed_over.append(claimed.lease.order_id)  # the worker's part
    reports = reservation_events(Checkouts(db, store, saga, clock))
    assert reports.batch_handler is not None
    paid = [await _order(store, clock, domain.PAID) for _ in range(3)]
    unpaid = await _order(store, clock, domain.PENDING_PAYMENT)
    stranger = Order(**{**vars(paid[0]), "order_id": "o-never-recorded"})
    deducted = [_report(clock, "ReservationConfirmed", order) for order in paid]
    batch = [*deducted, _report(clock, "ReservationExpired", unpaid), deducted[1],
             _report(clock, "ReservationConfirmed", stranger)]

    await reports.batch_handler(batch)
    await reports.batch_handler(batch[:2])  # delivered again: seen before

    assert sorted(handed_over) == sorted(order.order_id for order in paid)
    for order in paid:
        after = await sagas.get(order.order_id)
        assert after is not None and after.step(plan.STOCK) is not None
        assert (after.step(plan.STOCK).outcome, after.step(plan.STOCK).attempts) == ("DEDUCTED", 1)  # type: ignore[union-attr]
        assert after.step(plan.CAPTURE).status == plan.STARTED  # type: ignore[union-attr]  # claimed to run on
    expired = await sagas.get(unpaid.order_id)
    assert expired is not None and (expired.state, expired.reason) == (plan.COMPENSATING, domain.HOLD_EXPIRED)
    assert await sagas.get(stranger.order_id) is None
