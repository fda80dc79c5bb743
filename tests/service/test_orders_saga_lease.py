"""The saga lease, on the real order database: one runner at a time, and a dead runner's saga is
taken over once its lease runs out (never before)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from order_databases import order_instances, waiting_for_a_lock

from flashsale.contracts.events import ReservationConfirmed
from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.schema import inbox
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


async def _authorised(db: Database, clock: ManualClock, order_id: str) -> None:
    """The order's payment begun and recorded AUTHORISED, the lease given back: the saga waits for
    the stock deduction."""
    runner = SagaStore(db, clock, owner="payer")
    claimed = await runner.claim_to_run(order_id, LEASE_MS, payment_token="tok_ok")
    assert claimed is not None and claimed.begun == plan.PAYMENT
    async with db.transaction() as conn:
        await saga_sql.finish_step_txn(conn, order_id, plan.PAYMENT, clock.now_ms(), outcome=plan.AUTHORISED)
    await runner.let_go(claimed.lease, due_at_ms=None)


async def test_a_deduction_claims_the_saga_with_the_capture_begun_in_the_same_commit(
    databases: list[Database],
) -> None:
    """The claim records the outcome it is given and decides the next step with it: the stock
    deducted, the capture and the shipment begun, as the database then holds them."""
    clock = ManualClock()
    db = databases[0]
    order_id = await _new_order(db, clock)
    await _authorised(db, clock, order_id)
    deducted = saga_sql.Finished(plan.STOCK, outcome="DEDUCTED")

    async with db.transaction() as conn:
        claimed = await SagaStore(db, clock, owner="worker").claim_to_run_txn(
            conn, order_id, LEASE_MS, finished=[deducted])

    assert claimed is not None and claimed.begun == plan.CAPTURE
    stored = await SagaStore(db, clock, owner="reader").get(order_id)
    assert stored is not None
    assert {name: (step.status, step.outcome) for name, step in stored.steps.items()} == {
        name: (step.status, step.outcome) for name, step in claimed.saga.steps.items()}
    assert stored.steps[plan.STOCK].status == plan.DONE and stored.steps[plan.STOCK].outcome == "DEDUCTED"
    assert {stored.steps[plan.CAPTURE].status, stored.steps[plan.SHIPMENT].status} == {plan.STARTED}


async def test_a_deduction_for_a_saga_someone_runs_records_nothing_in_the_claim_and_leaves_it_alone(
    databases: list[Database],
) -> None:
    """A claim that does not get the lease writes no step: the caller records the deduction and
    makes the saga due itself, and the runner's lease stays as it was."""
    clock = ManualClock()
    db = databases[0]
    order_id = await _new_order(db, clock)
    await _authorised(db, clock, order_id)
    holder = await SagaStore(db, clock, owner="holder").claim(order_id, LEASE_MS)
    assert holder is not None

    async with db.transaction() as conn:
        claimed = await SagaStore(db, clock, owner="worker").claim_to_run_txn(
            conn, order_id, LEASE_MS, finished=[saga_sql.Finished(plan.STOCK, outcome="DEDUCTED")])

    assert claimed is None
    stored = await SagaStore(db, clock, owner="reader").get(order_id)
    assert stored is not None and plan.STOCK not in stored.steps
    assert stored.lease_owner == holder.token


async def test_a_step_begun_again_counts_an_attempt_and_keeps_its_start_and_error_until_it_finishes(
    databases: list[Database],
) -> None:
    """One statement records a step begun and a step finished: begun again, a step keeps when it
    first started and the error it last failed with; finished, it keeps its attempts and the error
    is cleared."""
    clock = ManualClock()
    db = databases[0]
    order_id = await _new_order(db, clock)
    store = SagaStore(db, clock, owner="runner")
    lease = await store.claim(order_id, LEASE_MS)
    assert lease is not None
    first_start = clock.now_ms()
    await store.begin_steps(lease, [plan.CAPTURE])
    await store.record_failure(lease, plan.CAPTURE, "payments unreachable", retry_at_ms=None, park=False)
    lease = await store.claim(order_id, LEASE_MS)
    assert lease is not None
    clock.advance(5)

    await store.begin_steps(lease, [plan.CAPTURE])
    begun = (await store.get(order_id) or pytest.fail("no saga")).steps[plan.CAPTURE]
    async with db.transaction() as conn:
        await saga_sql.finish_step_txn(conn, order_id, plan.CAPTURE, clock.now_ms(), outcome="CAPTURED")
    finished = (await store.get(order_id) or pytest.fail("no saga")).steps[plan.CAPTURE]

    assert (begun.status, begun.attempts, begun.started_at_ms, begun.error) == (
        plan.STARTED, 2, first_start, "payments unreachable")
    assert (finished.status, finished.outcome, finished.attempts, finished.started_at_ms, finished.error) == (
        plan.DONE, "CAPTURED", 2, first_start, None)
    assert finished.finished_at_ms == clock.now_ms()


async def test_a_pay_takes_only_a_running_saga_and_never_changes_the_token_of_a_payment_begun(
    databases: list[Database],
) -> None:
    """The token is the payment's: written by the claim that begins the payment, kept by a later
    pay's claim (a payment cut off mid-call is asked again with its own token), and a saga turned
    to compensating is not taken for a pay at all."""
    clock = ManualClock()
    db = databases[0]
    order_id = await _new_order(db, clock)
    store = SagaStore(db, clock, owner="payer")
    first = await store.claim_to_run(order_id, LEASE_MS, payment_token="tok_first")
    assert first is not None and first.begun == plan.PAYMENT and first.saga.payment_token == "tok_first"
    await store.let_go(first.lease, due_at_ms=None)  # as a runner dying mid-call leaves it, the payment STARTED

    second = await store.claim_to_run(order_id, LEASE_MS, payment_token="tok_second")

    assert second is not None and second.begun is None  # the payment in doubt is asked again, not begun
    assert second.saga.payment_token == "tok_first"
    stored = await store.get(order_id)
    assert stored is not None and stored.payment_token == "tok_first"
    assert stored.steps[plan.PAYMENT].attempts == 1
    await store.let_go(second.lease, due_at_ms=None)
    async with db.transaction() as conn:
        await saga_sql.set_state_txn(conn, order_id, plan.COMPENSATING, clock.now_ms(), reason="customer_cancelled")
    assert await store.claim_to_run(order_id, LEASE_MS, payment_token="tok_third") is None


def _deduction_report(order_id: str, clock: ManualClock) -> Envelope:
    fact = ReservationConfirmed(reservation_id=f"r-{order_id}", order_id=order_id, items=[],
                                confirmed_at="2026-12-07T08:00:00Z")
    return Envelope.new(source="inventory", type="ReservationConfirmed", subject=f"r-{order_id}",
                        now_ms=clock.now_ms(), data=fact.model_dump(by_alias=True, mode="json"))


async def _handled(db: Database, report: Envelope) -> bool:
    async with db.read() as conn:
        found = await conn.scalar(sa.select(sa.func.count()).select_from(inbox).where(
            inbox.c.consumer == "orders", inbox.c.message_id == report.id))
    return bool(found)


async def test_a_deduction_report_claims_the_saga_in_one_statement_once_and_only_in_its_common_case(
    postgres_databases: list[Database],
) -> None:
    """PostgreSQL: the report recorded, the stock step DONE, the capture and shipment begun and the
    lease taken, all in one statement; a copy of the report, a saga someone holds, or one whose
    payment is not recorded write nothing (the general way then decides)."""
    clock = ManualClock()
    db = postgres_databases[0]
    store = SagaStore(db, clock, owner="worker")
    paid, held, unpaid = [await _new_order(db, clock) for _ in range(3)]
    await _authorised(db, clock, paid)
    await _authorised(db, clock, held)
    holder = await SagaStore(db, clock, owner="holder").claim(held, LEASE_MS)
    assert holder is not None
    reports = {order_id: _deduction_report(order_id, clock) for order_id in (paid, held, unpaid)}

    claimed = await store.claim_deducted_at_once(paid, LEASE_MS, "orders", reports[paid])
    again = await store.claim_deducted_at_once(paid, LEASE_MS, "orders", reports[paid])
    refused = [await store.claim_deducted_at_once(order_id, LEASE_MS, "orders", reports[order_id])
               for order_id in (held, unpaid)]

    assert claimed is not None and claimed.begun == plan.CAPTURE
    stored = await store.get(paid)
    assert stored is not None and stored.lease_owner == claimed.lease.token
    assert {name: (step.status, step.outcome) for name, step in stored.steps.items()} == {
        plan.HOLD: (plan.DONE, "HELD"), plan.PAYMENT: (plan.DONE, plan.AUTHORISED), plan.STOCK: (plan.DONE, "DEDUCTED"),
        plan.CAPTURE: (plan.STARTED, None), plan.SHIPMENT: (plan.STARTED, None)}
    assert claimed.saga.records() == stored.records()
    assert await _handled(db, reports[paid])
    assert again is None and refused == [None, None]
    after = await store.get(paid)
    assert after is not None and after.lease_owner == claimed.lease.token and after.steps == stored.steps
    for order_id in (held, unpaid):
        untouched = await store.get(order_id)
        assert untouched is not None and plan.STOCK not in untouched.steps
        assert not await _handled(db, reports[order_id])
    held_saga = await store.get(held)
    assert held_saga is not None and held_saga.lease_owner == holder.token
