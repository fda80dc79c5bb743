"""A hold that expires while its order's payment is being recorded, on PostgreSQL, where the two
transactions really interleave: the payment wins (the order is paid and its saga runs on; the
inventory re-takes the units or rejects the deduction), the expiry changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from order_databases import order_instances, waiting_for_a_lock

from flashsale.contracts.events import ReservationExpired
from flashsale.kit.bus import Subscription
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
async def databases(postgres_database_base: str) -> AsyncIterator[list[Database]]:
    """The order database opened as two instances would: one records the payment, the other
    handles the expiry."""
    async with order_instances(postgres_database_base) as opened:
        yield opened


def _events(db: Database, clock: ManualClock) -> Subscription:
    """The order service's reservation consumer; its saga's remote clients are never called here
    (handlers make no remote calls)."""
    store, sagas = OrderStore(db, clock), SagaStore(db, clock, owner="consumer")
    saga = CheckoutSaga(db, store, sagas, None, None, None, clock, SagaSettings())  # type: ignore[arg-type]
    return reservation_events(Checkouts(db, store, saga, clock))


async def test_a_hold_expiring_while_its_payment_is_recorded_leaves_the_paid_order_alone(
    databases: list[Database],
) -> None:
    clock = ManualClock(int(time.time() * 1000))
    paying, expiring = databases
    order_id, reservation_id = f"o-{uuid.uuid4().hex[:12]}", f"r-{uuid.uuid4().hex[:12]}"
    store = OrderStore(paying, clock)
    await store.create(Order(
        order_id=order_id, customer_id="c-1", status=domain.PENDING_PAYMENT, status_reason=None,
        reservation_id=reservation_id, expires_at_ms=clock.now_ms(), amount_cents=100,
        created_at_ms=clock.now_ms(), updated_at_ms=clock.now_ms(), paid_at_ms=None, lines=(domain.Line("p-1", 1),),
    ))
    claimed = await SagaStore(paying, clock, owner="payer").claim_to_run(order_id, 30_000, payment_token="tok_ok")
    assert claimed is not None
    lease = claimed.lease
    expired = Envelope.new(
        source="inventory", type="ReservationExpired", subject=reservation_id, now_ms=clock.now_ms(),
        data=ReservationExpired(reservation_id=reservation_id, order_id=order_id, items=[]).model_dump(
            by_alias=True, mode="json"),
    )

    async with paying.unit_of_work() as uow:  # the approved payment being recorded, as saga._authorise does
        conn = uow.conn
        saga = await saga_sql.hold_txn(conn, lease)
        await saga_sql.finish_step_txn(conn, order_id, plan.PAYMENT, clock.now_ms(), outcome=plan.AUTHORISED)
        await store.move_txn(uow, order_id, domain.PAID, only_from=[domain.PENDING_PAYMENT])
        await saga_sql.let_go_txn(conn, lease, saga)
        handling = asyncio.ensure_future(_events(expiring, clock).handler(expired))
        await waiting_for_a_lock(expiring, "the expiry")
    await handling

    order, after = await store.get(order_id), await SagaStore(paying, clock, owner="x").get(order_id)
    assert order is not None and after is not None
    assert (order.status, after.state, after.reason) == (domain.PAID, plan.RUNNING, None)
