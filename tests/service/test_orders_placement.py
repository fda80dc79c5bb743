"""An order placed: its row, lines, saga (the hold step done), OrderCreated and its request's
answer, written together or not at all, against real SQLite and PostgreSQL. On PostgreSQL a
placement that arrives alone is one statement (store/placement.py) and placements that arrive
together one transaction; SQLite always takes the transaction: the same rows either way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import sqlalchemy as sa
from order_databases import order_instances

from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.errors import KeyTakenOver
from flashsale.kit.idempotency import Answer, KeyClaim
from flashsale.kit.schema import idempotency_keys, outbox
from flashsale.services.orders import domain
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.store import Order, OrderStore, SagaStore

pytestmark = pytest.mark.service

LOCKED_UNTIL_MS = 1_000_000


@pytest.fixture
async def db(database_base: str) -> AsyncIterator[Database]:
    async with order_instances(database_base, count=1) as opened:
        yield opened[0]


def _order(clock: ManualClock) -> Order:
    now = clock.now_ms()
    return Order(
        order_id=f"o-{uuid.uuid4().hex[:12]}", customer_id="c-1", status=domain.PENDING_PAYMENT, status_reason=None,
        reservation_id=f"r-{uuid.uuid4().hex[:12]}", expires_at_ms=now + 60_000, amount_cents=2 * 1999 + 500,
        created_at_ms=now, updated_at_ms=now, paid_at_ms=None,
        lines=(domain.Line("p-1", 2, "Hot thing", 1999), domain.Line("p-2", 1, None, 500)),
    )


async def _key(db: Database, clock: ManualClock) -> KeyClaim:
    """A key taken by a running request, as the idempotency store takes it."""
    claim = KeyClaim("create-order", f"key-{uuid.uuid4().hex[:10]}", LOCKED_UNTIL_MS)
    async with db.transaction() as conn:
        await conn.execute(idempotency_keys.insert().values(
            scope=claim.scope, key=claim.key, request_hash="h", state="in_progress",
            locked_until_ms=claim.locked_until_ms, created_at_ms=clock.now_ms()))
    return claim


async def _created_events(db: Database, order_id: str) -> list[Envelope]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.subject, outbox.c.envelope).where(outbox.c.aggregate_id == order_id))
        return [Envelope.from_bytes(row.envelope.encode()) for row in rows if row.subject == "orders.OrderCreated"]


async def _assert_placed(db: Database, clock: ManualClock, order: Order) -> None:
    assert await OrderStore(db, clock).get(order.order_id) == order
    saga = await SagaStore(db, clock, owner="reader").get(order.order_id)
    assert saga is not None
    assert (saga.state, saga.lease_owner, saga.due_at_ms, saga.attempts) == (plan.RUNNING, None, None, 0)
    hold = saga.steps[plan.HOLD]
    assert (hold.status, hold.outcome, hold.detail, hold.attempts) == (plan.DONE, "HELD", order.reservation_id, 1)
    assert list(saga.steps) == [plan.HOLD]
    (created,) = await _created_events(db, order.order_id)
    assert created.data["orderId"] == order.order_id
    assert [(item["productId"], item["quantity"]) for item in created.data["items"]] == [("p-1", 2), ("p-2", 1)]


async def test_an_order_placed_alone_or_among_others_writes_its_order_lines_saga_and_event(db: Database) -> None:
    clock = ManualClock()
    store = OrderStore(db, clock)
    alone = _order(clock)
    together = [_order(clock) for _ in range(3)]

    await store.create(alone)
    await asyncio.gather(*(store.create(order) for order in together))

    for order in [alone, *together]:
        await _assert_placed(db, clock, order)


async def test_an_order_placed_with_its_key_stores_the_answer_with_it(db: Database) -> None:
    clock = ManualClock()
    order = _order(clock)
    claim = await _key(db, clock)

    await OrderStore(db, clock).create(order, answer=(claim, Answer(201, {"orderId": order.order_id})))

    await _assert_placed(db, clock, order)
    async with db.read() as conn:
        key = (await conn.execute(sa.select(idempotency_keys).where(idempotency_keys.c.key == claim.key))).one()
    assert (key.state, key.status_code, orjson.loads(key.body)) == ("done", 201, {"orderId": order.order_id})


async def test_an_order_whose_key_was_taken_over_is_not_placed_at_all(db: Database) -> None:
    """A request paused past its key's lock (a retry holds the key now, under a later lock) places
    nothing: no order, no saga, no event, and the key as the retry holds it."""
    clock = ManualClock()
    order = _order(clock)
    claim = await _key(db, clock)
    stale = KeyClaim(claim.scope, claim.key, claim.locked_until_ms - 1)

    with pytest.raises(KeyTakenOver):
        await OrderStore(db, clock).create(order, answer=(stale, Answer(201, {"orderId": order.order_id})))

    assert await OrderStore(db, clock).get(order.order_id) is None
    assert await SagaStore(db, clock, owner="reader").get(order.order_id) is None
    assert await _created_events(db, order.order_id) == []
    async with db.read() as conn:
        key = (await conn.execute(sa.select(idempotency_keys).where(idempotency_keys.c.key == claim.key))).one()
    assert (key.state, key.locked_until_ms, key.body) == ("in_progress", claim.locked_until_ms, None)
