"""The checkout saga's runner: carries out saga_plan's steps against the other services.

Every step is checkpointed in the order database: STARTED before its remote call, DONE with its
outcome after, in the same transaction as whatever the outcome decides (the order becomes PAID,
COMPLETED or CANCELLED, the saga turns to compensating). Every remote call is idempotent per
order and step (the services on the other side key them so), so a runner that finds a step
STARTED after a crash may call again without doing anything twice. One call goes ahead of its
checkpoint: a declined card's release of the hold, recorded with the decline and the order's
cancellation in one commit (`_authorise` says why that is safe). The last compensation, cancelling
the order, is local and taken in the commit that records the step before it; the capture and
the shipment, booked one right after the other, are begun together and recorded together.

One runner at a time holds a saga's lease: a request (pay, cancel) that wants an answer now, or
an instance's worker (saga_worker.py) for what is due: steps after an event, retries, and sagas
whose runner died. Decisions that come from outside (an expired or revoked hold, a rejected
deduction, a customer's cancel) never need the lease: they lock the saga row, record themselves
and make the saga due, and whoever runs it next acts on them. The news the forward path waits
for, the stock deducted, is recorded the same way, and in the same commit claims the saga (when
nobody holds it) for the worker to run on at once: one commit, and no look for due sagas. On
PostgreSQL a report that arrives alone, in the common case, does all of that in one statement
(store/deducted.py).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.faults import crash_point
from flashsale.kit.grouped_writes import GroupedWrites
from flashsale.kit.idempotency import Answer, KeyClaim, answer_txn
from flashsale.kit.tracing import in_journey, span
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.orders import domain, metrics
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.clients import InventoryClient, PaymentsClient, ShippingClient
from flashsale.services.orders.errors import PaymentDeclined
from flashsale.services.orders.store import Claimed, Lease, LostLease, Order, OrderStore, Saga, SagaStore
from flashsale.services.orders.store import sagas as saga_sql

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SagaSettings:
    lease_s: float = 30.0          # longer than any one step's remote call (a slow payment: ~10 s)
    max_attempts: int = 8          # failures in a row before the saga is parked for an operator,
    park_after_s: float = 300.0    # and only once the failing step is this old (retries by requests count too)
    retry_base_s: float = 0.5      # backoff between attempts: base * 2^n, capped, with jitter
    retry_cap_s: float = 30.0


# A step's recording hands over the saga as it left it, and the step it began next (or None).
Checkpoint = tuple[Saga, str | None]
# A request's Idempotency-Key and how it answers with the order (api.py renders it).
Keyed = tuple[KeyClaim, Callable[[Order], Answer]]
# How a pay answers: with the paid order, or with the decline (api.py renders both).
PayAnswer = Callable[[Order | PaymentDeclined], Answer]
# A pay's Idempotency-Key and how it answers.
KeyedPay = tuple[KeyClaim, PayAnswer]


@dataclass(frozen=True)
class Paying:
    """How a pay's run of the saga ended. `paid`: the order as the authorisation left it PAID (None:
    declined, or not recorded in this run); `answer`: its request's answer (the paid order, or the
    decline), stored under the request's Idempotency-Key in that same commit (None without a key,
    or when this run recorded neither). `stopped_by`: the error that stopped the saga early (the
    saga itself retries)."""

    stopped_by: Exception | None
    paid: Order | None = None
    answer: Answer | None = None


class CheckoutSaga:
    def __init__(
        self, db: Database, orders: OrderStore, sagas: SagaStore, inventory: InventoryClient,
        payments: PaymentsClient, shipping: ShippingClient | None, clock: Clock, settings: SagaSettings,
    ) -> None:
        self.db = db
        self.orders = orders
        self.sagas = sagas
        self.inventory = inventory
        self.payments = payments
        self.shipping = shipping
        self.clock = clock
        self.settings = settings
        # The hot path's records (a pay's start and its payment's record, an order's completion)
        # that come together commit together: kit/grouped_writes.py says why.
        self.writes = GroupedWrites(db)
        self.wake_worker: Callable[[], None] = lambda: None  # the worker installs itself here
        # Runs a saga claimed in someone else's commit (a deduction's): the worker installs its own,
        # which counts it among the sagas it runs; without a worker, a task of its own.
        self.hand_over: Callable[[Claimed, Order | None], None] = self._run_apart
        self._apart: set[asyncio.Task[Exception | None]] = set()
        self._steps: dict[plan.Next, Callable[[Lease, Saga, Order, str | None], Awaitable[Checkpoint]]] = {
            plan.Next.RESOLVE_PAYMENT: self._resolve_payment,
            plan.Next.CAPTURE: self._capture,
            plan.Next.SHIPMENT: self._ship,
            plan.Next.CANCEL_SHIPMENT: self._cancel_shipment,
            plan.Next.REFUND_PAYMENT: self._refund_payment,
            plan.Next.RELEASE_HOLD: self._release_hold,
            plan.Next.CANCEL_ORDER: self._cancel_order,
        }

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_s * 1000)

    # -- entry points ----------------------------------------------------------------------

    async def claim_to_pay_txn(self, conn: AsyncConnection, order_id: str, token: str) -> Claimed | None:
        """Take the saga's lease to pay the order, with the payment begun, in the caller's
        transaction (None: another runner holds it); `pay` then runs it once committed."""
        return await self.sagas.claim_to_run_txn(conn, order_id, self.lease_ms, payment_token=token)

    async def pay(self, claimed: Claimed, order: Order, token: str, keyed: KeyedPay | None = None) -> Paying:
        """Authorise the order's payment and run on as far as the saga can go now, under the lease
        `claim_to_pay_txn` took. `keyed`: the request's Idempotency-Key, whose answer (the paid
        order, or the decline) is stored with the payment's record."""
        paying = Paying(None)

        async def authorise_first() -> Checkpoint:
            nonlocal paying
            if claimed.begun != plan.PAYMENT:
                return claimed.saga, claimed.begun
            checkpoint, paid, answer = await self._authorise(claimed.lease, order, token, keyed)
            paying = Paying(None, paid, answer)
            return checkpoint

        stopped_by = await self._run(claimed.lease, authorise_first, order)
        return replace(paying, stopped_by=stopped_by)

    async def resume(self, order_id: str) -> Exception | None:
        """Advance a saga if nobody else is: the worker's entry, and a cancel's."""
        claimed = await self.sagas.claim_to_run(order_id, self.lease_ms)
        if claimed is None:
            return None
        return await self.run_claimed(claimed)

    async def run_claimed(self, claimed: Claimed, order: Order | None = None) -> Exception | None:
        """Advance a saga claimed already (by `resume`, or in the commit that recorded its news);
        `order`: the order, when the claimer has read it (else the first step reads it)."""

        async def as_claimed() -> Checkpoint:
            return claimed.saga, claimed.begun

        order_id = claimed.lease.order_id
        with in_journey(order_id, "saga.resume", {"order.id": order_id}):  # whoever runs it, the order's trace
            return await self._run(claimed.lease, as_claimed, order)

    def _run_apart(self, claimed: Claimed, order: Order | None) -> None:
        task = asyncio.create_task(self.run_claimed(claimed, order), name=claimed.lease.order_id)
        self._apart.add(task)
        task.add_done_callback(self._apart.discard)

    async def compensate_txn(self, conn: AsyncConnection, order_id: str, reason: str) -> bool:
        """Turn the saga to compensating for `reason` (in the caller's transaction, row locked)
        when it is running or was completed; the caller wakes the worker after the commit."""
        saga = await saga_sql.lock_txn(conn, order_id)
        if saga is None or saga.state not in (plan.RUNNING, plan.COMPLETED):
            return False
        await saga_sql.set_state_txn(conn, order_id, plan.COMPENSATING, self.clock.now_ms(),
                                     reason=reason, due_at_ms=self.clock.now_ms())
        metrics.sagas_compensating.labels(reason).inc()
        return True

    async def stock_deducted_txn(self, conn: AsyncConnection, order_id: str) -> Claimed | None:
        """The inventory turned the hold into a deduction: record the step and, in the same commit,
        claim the saga to run on with its next step begun (the capture), for the caller to hand
        over once committed: the worker's look for due sagas and its claim's commit are saved.
        The claim comes first (taken, it locks the row), and the step is written in the statement
        that begins the next one. A saga another runner holds (or one no longer under way) is
        locked, recorded and made due instead (None): its runner sees the step as it records its
        own, or as it lets go."""
        deducted = saga_sql.Finished(plan.STOCK, outcome=plan.DEDUCTED)
        claimed = await self.sagas.claim_to_run_txn(conn, order_id, self.lease_ms, finished=[deducted])
        if claimed is not None:
            return claimed
        if not await saga_sql.lock_row_txn(conn, order_id):
            return None
        now = self.clock.now_ms()
        await saga_sql.finish_steps_txn(conn, order_id, [deducted], now)
        await saga_sql.make_due_txn(conn, order_id, now)
        return None

    async def stock_deducted_at_once(self, consumer: str, report: Envelope, order_id: str) -> Claimed | None:
        """The common case of `stock_deducted_txn` with the report's inbox row, in one statement on
        PostgreSQL (store/deducted.py): the saga claimed with its capture begun, or None, having
        written nothing (then the general way)."""
        return await self.sagas.claim_deducted_at_once(order_id, self.lease_ms, consumer, report)

    # -- running ---------------------------------------------------------------------------

    async def _run(
        self, lease: Lease, start: Callable[[], Awaitable[Checkpoint]], order: Order | None = None,
    ) -> Exception | None:
        current: list[str | None] = [None]
        try:
            saga, begun = await start()
            last_seen = await self._advance(lease, current, saga, begun, order)
        except LostLease as lost:
            if lost.fenced:  # paused or slow past the lease: what we did was not recorded
                log.warning("saga_checkpoint_fenced", order_id=lease.order_id)
                metrics.saga_checkpoints_fenced.inc()
            return None
        except Exception as exc:  # noqa: BLE001 - any failure is retried later or parked, never dropped
            await self._failed(lease, current[0], exc)
            return exc
        # Not already given back by the last step's commit. News that came in between our last
        # look and the letting go found the saga held: its recorder's wake-up was spent, so wake again.
        if last_seen.lease_owner == lease.token and await self.sagas.let_go(lease, due_at_ms=None):
            self.wake_worker()
        return None

    async def _advance(
        self, lease: Lease, current: list[str | None], saga: Saga, begun: str | None, order: Order | None,
    ) -> Saga:
        """Run steps until the saga waits for news or is finished; returns the saga as last seen.
        Each step's recording transaction hands over the saga as it left it, with the next step
        begun (`_then_txn`), so no step reads the saga again."""
        held: Lease | None = lease
        while True:
            step = plan.next_step(saga.state, saga.records())
            if step in (plan.Next.WAIT, plan.Next.FINISHED):
                return saga
            if saga.lease_owner != lease.token:
                # A saga handed over without our lease (given back in the last step's commit) is
                # whoever runs it next's: `renew` trusts a fresh lease without asking, so this
                # check is what keeps us from being a second runner.
                raise LostLease(lease.order_id)
            held = await self.sagas.renew(held or lease, self.lease_ms)
            if held is None:
                raise LostLease(lease.order_id)
            current[0] = step.value
            # What the steps use of the order (its amount, lines and hold) is fixed when it is placed.
            order = order or await self.orders.get(lease.order_id)
            assert order is not None, "a saga exists only with its order"
            with span(f"saga.{step.value}", {"order.id": lease.order_id, "saga.step": step.value}):
                saga, begun = await self._steps[step](lease, saga, order, begun)
            metrics.saga_steps.labels(step.value, "done").inc()

    async def _then_txn(self, uow: UnitOfWork, lease: Lease, order: Order | None = None) -> Checkpoint:
        """The end of a step's recording transaction (the saga locked, the lease ours): the saga as
        it now is, with what comes next settled in the same commit. A step that calls another
        service is checkpointed as STARTED; the last compensation, cancelling the order, is local
        and taken here (given the `order`); a saga that waits for news or is finished is let go
        (no news can slip in between: the row is locked until the commit)."""
        conn = uow.conn
        saga = await saga_sql.get_txn(conn, lease.order_id)
        assert saga is not None, "a saga held under a lease exists"
        step = plan.next_step(saga.state, saga.records())
        if step is plan.Next.CANCEL_ORDER and order is not None:
            saga = await self._cancel_order_txn(uow, saga, order)
            step = plan.next_step(saga.state, saga.records())
        names = plan.checkpoints_first(step)
        if names:
            return await saga_sql.begin_txn(conn, saga, names, self.clock.now_ms()), names[0]
        if step in (plan.Next.WAIT, plan.Next.FINISHED):
            return await saga_sql.let_go_txn(conn, lease, saga), None
        return saga, None

    async def _failed(self, lease: Lease, step: str | None, exc: Exception) -> None:
        saga = await self._saga(lease.order_id)
        step = step or next((s.name for s in saga.steps.values() if s.status == plan.STARTED), None)
        attempts = saga.attempts + 1
        park = attempts >= self.settings.max_attempts and self._failing_for_s(saga) >= self.settings.park_after_s
        delay = plan.retry_delay_s(attempts, self.settings.retry_base_s, self.settings.retry_cap_s)
        retry_at = self.clock.now_ms() + int(delay * 1000 * random.uniform(0.8, 1.2))
        await self.sagas.record_failure(lease, step, f"{type(exc).__name__}: {exc}", retry_at_ms=retry_at, park=park)
        metrics.saga_steps.labels(step or "start", "failed").inc()
        if park:
            metrics.sagas_parked.inc()
            log.error("saga_needs_attention", order_id=lease.order_id, step=step, attempts=attempts, error=str(exc))
        else:
            log.warning("saga_step_failed", order_id=lease.order_id, step=step, attempts=attempts, error=str(exc))

    def _failing_for_s(self, saga: Saga) -> float:
        """How long the step under way (STARTED, not finished) has been failing; a failure outside
        any step has no age, and its attempts alone decide."""
        started = [s.started_at_ms for s in saga.steps.values() if s.status == plan.STARTED and s.started_at_ms]
        return math.inf if not started else (self.clock.now_ms() - min(started)) / 1000

    async def _saga(self, order_id: str) -> Saga:
        saga = await self.sagas.get(order_id)
        assert saga is not None, f"no saga for order {order_id}"
        return saga

    # -- forward steps ---------------------------------------------------------------------

    async def _authorise(
        self, lease: Lease, order: Order, token: str, keyed: KeyedPay | None = None,
    ) -> tuple[Checkpoint, Order | None, Answer | None]:
        """Ask for the payment and record its outcome. Returns the checkpoint, the order as this
        commit left it PAID (None: declined, or the saga turned meanwhile) and, with `keyed`, its
        request's answer (the paid order, or the decline: a declined card is the answer whatever
        the saga does next), stored in the same commit: a pay is then answered without another
        write or another read of the order. A key another request took over meanwhile (KeyTakenOver)
        rolls the recording back: the saga retries it as after a crash at "payment.called"."""
        outcome = await self.payments.authorise(order.order_id, order.amount_cents, token)
        crash_point("payment.called")
        # A decline is final (the payment service answers the same for the order ever after), and
        # the hold is the only thing to give back: it goes back now, and the decline's record
        # below records the release and cancels the order too. One commit for the decline where
        # there were three, and no step checkpointed STARTED first: a crash in between only
        # repeats the release (idempotent), which the compensating saga makes anyway.
        released = None if outcome.approved else await self._give_hold_back(order)
        if released is not None:
            crash_point("release_hold.called")
        async def record(uow: UnitOfWork) -> tuple[Checkpoint, Order | None, Answer | None]:
            conn = uow.conn
            paid: Order | None = None
            answer: Answer | None = None
            saga = await saga_sql.hold_txn(conn, lease)
            now = self.clock.now_ms()
            paid_or_declined = saga_sql.Finished(plan.PAYMENT, plan.AUTHORISED if outcome.approved else plan.DECLINED,
                                                 outcome.reason)
            given_back = [] if released is None else [saga_sql.Finished(plan.RELEASE_HOLD, released)]
            await saga_sql.finish_steps_txn(conn, order.order_id, [paid_or_declined, *given_back], now)
            if saga.state == plan.RUNNING and outcome.approved:
                # The saga now waits for the stock deduction: let go by _then_txn.
                moved = await self.orders.move_txn(uow, order.order_id, domain.PAID, only_from=[domain.PENDING_PAYMENT])
                paid = None if moved is None else replace(moved, lines=order.lines)
                if paid is not None and keyed is not None:
                    answer = await answer_txn(conn, keyed[0], keyed[1](paid))
            elif saga.state == plan.RUNNING:
                await saga_sql.set_state_txn(conn, order.order_id, plan.COMPENSATING, now,
                                             reason=domain.PAYMENT_DECLINED, due_at_ms=now)
            if not outcome.approved and keyed is not None:
                answer = await answer_txn(conn, keyed[0], keyed[1](PaymentDeclined(order.order_id, outcome.reason)))
            return await self._then_txn(uow, lease, order), paid, answer

        recorded = await self.writes.run(record)  # with the other pays' records that come together
        crash_point("payment.recorded")
        return recorded

    async def _resolve_payment(self, lease: Lease, saga: Saga, order: Order, begun: str | None) -> Checkpoint:
        """A payment cut off mid-call: ask again with the same token (the payment service
        answers with the outcome it already has, or finishes the abandoned one)."""
        checkpoint, _, _ = await self._authorise(lease, order, saga.payment_token or "")
        return checkpoint

    async def _capture(self, lease: Lease, saga: Saga, order: Order, begun: str | None) -> Checkpoint:
        """Take the money, then book the shipment at once (both begun together: the capture's
        checkpoints are the shipment's too), and record both in one commit."""
        await self._begin(lease, plan.CAPTURE, begun)
        status = await self.payments.capture(order.order_id)
        crash_point("capture.called")
        with span("saga.shipment", {"order.id": lease.order_id, "saga.step": plan.SHIPMENT}):
            after = await self._ship(lease, saga, order, plan.SHIPMENT, captured=status)
        metrics.saga_steps.labels(plan.SHIPMENT, "done").inc()
        return after

    async def _ship(
        self, lease: Lease, saga: Saga, order: Order, begun: str | None, *, captured: str | None = None,
    ) -> Checkpoint:
        """Book the shipment and record its outcome; `captured`: the capture's outcome, recorded in
        the same commit (the capture was taken just before, under the same checkpoints)."""
        if self.shipping is None:  # a house without a shipping service: delivery is not our step
            return await self._complete_order(lease, order.order_id, plan.SKIPPED, None, "no shipping service",
                                              captured=captured)
        await self._begin(lease, plan.SHIPMENT, begun)
        outcome = await self.shipping.schedule(order.order_id, order.lines)
        crash_point("shipment.called")
        if outcome.scheduled:
            after = await self._complete_order(lease, order.order_id, plan.DONE, "SCHEDULED", outcome.shipment_id,
                                               captured=captured)
        else:
            after = await self._complete_order(lease, order.order_id, plan.DONE, plan.REFUSED, outcome.detail,
                                               captured=captured)
        if captured is not None:
            crash_point("capture.recorded")
        crash_point("shipment.recorded")
        return after

    async def _complete_order(
        self, lease: Lease, order_id: str, status: str, outcome: str | None, detail: str | None, *,
        captured: str | None = None,
    ) -> Checkpoint:
        """The shipment's outcome (with `captured`, the capture's too), and with it the end of the
        forward path: the order COMPLETED, or the saga turned to compensating when the shipment was
        refused."""

        async def record(uow: UnitOfWork) -> tuple[Checkpoint, bool]:
            conn = uow.conn
            saga = await saga_sql.hold_txn(conn, lease)
            now = self.clock.now_ms()
            shipped = saga_sql.Finished(plan.SHIPMENT, outcome, detail, status)
            captured_first = [] if captured is None else [saga_sql.Finished(plan.CAPTURE, captured)]
            await saga_sql.finish_steps_txn(conn, order_id, [*captured_first, shipped], now)
            if saga.state == plan.RUNNING and outcome != plan.REFUSED:
                await self.orders.move_txn(uow, order_id, domain.COMPLETED, only_from=[domain.PAID])
                # Ended: nothing is next, so no read of the saga and no letting go after.
                return (await saga_sql.end_txn(conn, lease, saga, plan.COMPLETED, now), None), False
            # Refused, or turned to compensating meanwhile (then the shipment will be cancelled).
            refused = saga.state == plan.RUNNING
            if refused:
                await saga_sql.set_state_txn(conn, order_id, plan.COMPENSATING, now,
                                             reason=domain.SHIPMENT_FAILED, due_at_ms=now)
            return await self._then_txn(uow, lease), refused

        after, refused = await self.writes.run(record)  # with the other completions that come together
        if refused:
            metrics.sagas_compensating.labels(domain.SHIPMENT_FAILED).inc()
        return after

    # -- compensations ---------------------------------------------------------------------

    async def _cancel_shipment(self, lease: Lease, saga: Saga, order: Order, begun: str | None) -> Checkpoint:
        await self._begin(lease, plan.CANCEL_SHIPMENT, begun)
        if self.shipping is not None:
            await self.shipping.cancel(order.order_id)
        crash_point("cancel_shipment.called")
        after = await self._finish(lease, plan.CANCEL_SHIPMENT, order, outcome="CANCELLED")
        crash_point("cancel_shipment.recorded")
        return after

    async def _refund_payment(self, lease: Lease, saga: Saga, order: Order, begun: str | None) -> Checkpoint:
        await self._begin(lease, plan.REFUND_PAYMENT, begun)
        status = await self.payments.refund(order.order_id)
        crash_point("refund_payment.called")
        after = await self._finish(lease, plan.REFUND_PAYMENT, order, outcome=status)
        crash_point("refund_payment.recorded")
        return after

    async def _release_hold(self, lease: Lease, saga: Saga, order: Order, begun: str | None) -> Checkpoint:
        """Give the hold back at once. This call only makes the units available sooner: the
        durable release is the OrderCancelled of the next step (the inventory releases the hold,
        or reverses a deduction, when it hears it), so an unreachable inventory defers it rather
        than holding the cancellation up."""
        await self._begin(lease, plan.RELEASE_HOLD, begun)
        outcome = await self._give_hold_back(order)
        crash_point("release_hold.called")
        after = await self._finish(lease, plan.RELEASE_HOLD, order, outcome=outcome)
        crash_point("release_hold.recorded")
        return after

    async def _give_hold_back(self, order: Order) -> str:
        """Release the order's hold: RELEASED, or DEFERRED when the inventory cannot be reached
        (the order's OrderCancelled releases it when the inventory hears it)."""
        try:
            await self.inventory.release(order.reservation_id)
        except DependencyUnavailable as exc:
            log.warning("release_deferred_to_event", order_id=order.order_id, error=str(exc))
            return "DEFERRED"
        return "RELEASED"

    async def _cancel_order(self, lease: Lease, saga: Saga, order: Order, begun: str | None) -> Checkpoint:
        """The last compensation on its own: usually taken in the commit that records the one
        before it (`_then_txn`); here when a saga is resumed with only this step left."""
        async with self.db.unit_of_work() as uow:
            await saga_sql.hold_txn(uow.conn, lease)
            after = await self._then_txn(uow, lease, order)
        crash_point("cancel_order.recorded")
        return after

    async def _cancel_order_txn(self, uow: UnitOfWork, saga: Saga, order: Order) -> Saga:
        """The order CANCELLED with the saga's reason, and the saga COMPENSATED; returns the saga
        as it now is."""
        now = self.clock.now_ms()
        await saga_sql.finish_step_txn(uow.conn, order.order_id, plan.CANCEL_ORDER, now, outcome=domain.CANCELLED)
        await self.orders.move_txn(
            uow, order.order_id, domain.CANCELLED, reason=saga.reason or domain.CUSTOMER_CANCELLED,
            only_from=[domain.PENDING_PAYMENT, domain.PAID, domain.COMPLETED],
            refunded=plan.money_given_back(saga.records()),
        )
        await saga_sql.set_state_txn(uow.conn, order.order_id, plan.COMPENSATED, now)
        cancelled = await saga_sql.get_txn(uow.conn, order.order_id)
        assert cancelled is not None, "a saga held under a lease exists"
        return cancelled

    async def _begin(self, lease: Lease, step: str, begun: str | None) -> None:
        """Checkpoint `step` (with the steps begun with it) as STARTED, unless the transaction
        before it did (`begun`)."""
        if begun != step:
            await self.sagas.begin_steps(lease, plan.checkpoints_first(plan.Next(step)))

    async def _finish(self, lease: Lease, step: str, order: Order, *, outcome: str) -> Checkpoint:
        """Record a remote step's outcome; when only the order's cancellation is left, it is taken
        in the same commit."""
        async with self.db.unit_of_work() as uow:
            await saga_sql.hold_txn(uow.conn, lease)
            await saga_sql.finish_step_txn(uow.conn, lease.order_id, step, self.clock.now_ms(), outcome=outcome)
            after = await self._then_txn(uow, lease, order)
        if after[0].state == plan.COMPENSATED:
            crash_point("cancel_order.recorded")
        return after
