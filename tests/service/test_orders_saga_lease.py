"""The saga lease, on the real order database: one runner at a time, and a dead runner's saga is
taken over once its lease runs out (never before)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from order_databases import order_instances, waiting_for_a_lock

from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.services.orders import domain
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.store import Lease, LostLease, Order, OrderStore, SagaStore
from flashsale.services.orders.store import sagas as saga_sql

pytestmark = pytest.mark.service

LEASE_MS = 5_000
SHORT_LEASE_MS = 400  # for the tests that wait for a lease to run out
INSTANCES = 2
RUNNERS = 20


@pytest.fixture
async def databases(database_base: str) -> AsyncIterator[list[Database]]:
    """One order database, opened as two instances would (two engines, two pools)."""
    async with order_instances(database_base, INSTANCES) as opened:
        yield opened


async def _new_order(db: Database, clock: ManualClock) -> str:
    order_id = f"o-{uuid.uuid4().hex[:12]}"
    now = clock.now_ms()
    await OrderStore(db, clock).create(Order(
        order_id=order_id, customer_id="c-1", status=domain.PENDING_PAYMENT, status_reason=None,
        reservation_id=f"r-{order_id}", expires_at_ms=now + 600_000, amount_cents=100, created_at_ms=now,
        updated_at_ms=now, paid_at_ms=None, lines=(domain.Line("p-1", 1),),
    ))
    return order_id


async def test_of_many_runners_on_two_instances_exactly_one_gets_the_saga(databases: list[Database]) -> None:
    clock = ManualClock()
    order_id = await _new_order(databases[0], clock)
    stores = [SagaStore(databases[n % INSTANCES], clock, owner=f"runner-{n}") for n in range(RUNNERS)]

    leases = await asyncio.gather(*(store.claim(order_id, LEASE_MS) for store in stores))

    assert sum(lease is not None for lease in leases) == 1


async def _claim_once_due(store: SagaStore, order_id: str, lease_ms: int, timeout_s: float = 10.0) -> Lease:
    """Ask for the lease until it is granted (it is the database's clock that lets it run out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (lease := await store.claim(order_id, lease_ms)) is not None:
            return lease
        await asyncio.sleep(0.02)
    raise AssertionError(f"the saga's lease never ran out within {timeout_s}s")


async def test_a_dead_runners_saga_is_due_and_taken_over_only_when_its_lease_runs_out(
    databases: list[Database],
) -> None:
    clock = ManualClock()
    order_id = await _new_order(databases[0], clock)
    dead, survivor = SagaStore(databases[0], clock, owner="dead"), SagaStore(databases[1], clock, owner="survivor")
    claimed_at = time.monotonic()
    # Long enough that the survivor's first look comes before it runs out on a loaded machine.
    dead_lease_ms = 2_000
    claimed = await dead.claim_to_run(order_id, dead_lease_ms, payment_token="tok_ok")
    assert claimed is not None and claimed.begun == plan.PAYMENT
    abandoned = claimed.lease

    early = (await survivor.due(10), await survivor.claim(order_id, SHORT_LEASE_MS))
    taken = await _claim_once_due(survivor, order_id, SHORT_LEASE_MS)

    assert early == ([], None)
    assert time.monotonic() - claimed_at >= dead_lease_ms / 1000
    assert await dead.renew(abandoned, SHORT_LEASE_MS) is None  # the old runner cannot carry on
    saga = await survivor.get(order_id)
    assert saga is not None
    payment = saga.step(plan.PAYMENT)
    assert payment is not None
    assert payment.status == plan.STARTED  # in doubt: the new runner asks again
    assert saga.lease_owner == taken.token


async def test_a_process_whose_clock_runs_ahead_cannot_take_a_lease_early(databases: list[Database]) -> None:
    # Leases are judged by the database's clock: an instance an hour ahead of the others (a host
    # whose clock drifted) still waits for the holder's lease to run out.
    order_id = await _new_order(databases[0], ManualClock())
    holder = SagaStore(databases[0], ManualClock(), owner="holder")
    ahead = ManualClock()
    ahead.advance(3600)
    hasty = SagaStore(databases[1], ahead, owner="hasty")

    assert await holder.claim(order_id, LEASE_MS) is not None
    assert await hasty.claim(order_id, LEASE_MS) is None
    assert order_id not in await hasty.due(100)


async def test_a_runner_paused_past_its_lease_cannot_record_a_step(databases: list[Database]) -> None:
    clock = ManualClock()
    order_id = await _new_order(databases[0], clock)
    paused, successor = SagaStore(databases[0], clock, owner="paused"), SagaStore(databases[1], clock, owner="next")
    stale = await paused.claim(order_id, SHORT_LEASE_MS)
    assert stale is not None
    fresh = await _claim_once_due(successor, order_id, SHORT_LEASE_MS)

    with pytest.raises(LostLease):  # it wakes up and carries on where it was: fenced off
        await paused.begin_steps(stale, [plan.CAPTURE])
    await successor.begin_steps(fresh, [plan.CAPTURE])

    saga = await successor.get(order_id)
    assert saga is not None and saga.lease_owner == fresh.token
    capture = saga.step(plan.CAPTURE)
    assert capture is not None and capture.attempts == 1


async def test_a_saga_waiting_for_news_is_not_due(databases: list[Database]) -> None:
    clock = ManualClock()
    order_id = await _new_order(databases[0], clock)
    store = SagaStore(databases[0], clock, owner="runner")
    lease = await store.claim(order_id, LEASE_MS)
    assert lease is not None

    await store.let_go(lease, due_at_ms=None)

    assert order_id not in await store.due(100)


@pytest.fixture
async def postgres_databases(postgres_database_base: str) -> AsyncIterator[list[Database]]:
    async with order_instances(postgres_database_base, INSTANCES) as opened:
        yield opened


async def test_news_recorded_while_a_runner_lets_go_leaves_the_saga_due(postgres_databases: list[Database]) -> None:
    """A runner lets the saga go (it waits for the stock deduction) at the moment the consumer
    records that deduction: whichever commits first, the saga must end up due, or nobody ever
    captures the payment. (Only PostgreSQL interleaves them: SQLite's writers take turns.)"""
    clock = ManualClock(int(time.time() * 1000) - 60_000)
    runner_db, consumer_db = postgres_databases
    order_id = await _new_order(runner_db, clock)
    runner = SagaStore(runner_db, clock, owner="runner")
    claimed = await runner.claim_to_run(order_id, LEASE_MS, payment_token="tok_ok")
    assert claimed is not None
    lease = claimed.lease
    async with runner_db.transaction() as conn:
        await saga_sql.finish_step_txn(conn, order_id, plan.PAYMENT, clock.now_ms(), outcome=plan.AUTHORISED)

    async with consumer_db.transaction() as conn:  # the deduction being recorded, not committed yet
        await saga_sql.lock_txn(conn, order_id)
        await saga_sql.finish_step_txn(conn, order_id, plan.STOCK, clock.now_ms(), outcome="DEDUCTED")
        await saga_sql.make_due_txn(conn, order_id, clock.now_ms())
        letting_go = asyncio.create_task(runner.let_go(lease, due_at_ms=None))
        await waiting_for_a_lock(consumer_db, "the runner letting go")
    news = await letting_go

    assert news  # the runner saw the deduction, so its caller wakes a worker
    assert order_id in await runner.due(limit=100)
