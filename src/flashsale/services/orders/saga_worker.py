"""The saga worker: every order instance runs one, advancing the sagas that are due.

Due means: an event recorded news (stock deducted, a hold expired), a failed step's retry time
came, or a runner died holding a saga and its lease ran out. The worker claims each saga's lease
before running it, so the workers of several instances never run one saga twice at once. A saga
claimed already, in the commit that recorded its stock deducted, is handed to the worker to run
(`hand_over`), whatever its room: it holds the lease, and nobody else would run it before the
lease ran out.

Each due saga runs as a task of its own, up to `batch_size` at a time: the worker does not wait
for a round of them to finish before it looks again, so news recorded while other sagas are in
their remote calls (a capture, a shipment: hundreds of ms) is acted on at once, when the
consumer that recorded it wakes the worker, rather than after the slowest saga of the round.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from flashsale.kit.service import Loop
from flashsale.services.orders import domain, metrics
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.saga import CheckoutSaga
from flashsale.services.orders.store import Claimed, Order, OrderStore, SagaStore

log = structlog.get_logger(__name__)

GAUGE_REFRESH_S = 5.0


def saga_worker(saga: CheckoutSaga, sagas: SagaStore, *, interval_s: float, batch_size: int) -> Loop:
    """A background loop (for `ServiceRuntime.spawn`) until `stop` is set."""
    wake = asyncio.Event()
    saga.wake_worker = wake.set
    running: dict[str, asyncio.Task[Exception | None]] = {}
    backlog = [False]  # the last look found more due sagas than there was room for

    def finished(task: asyncio.Task[Exception | None]) -> None:
        if running.get(task.get_name()) is task:
            del running[task.get_name()]
        if not task.cancelled() and task.exception() is not None:  # e.g. the claim's database gone
            log.error("saga_resume_failed", order_id=task.get_name(), error=repr(task.exception()))
        if backlog[0]:
            wake.set()  # room for one of those waiting

    def start(order_id: str) -> None:
        track(asyncio.create_task(saga.resume(order_id), name=order_id))

    def run_handed_over(claimed: Claimed, order: Order | None) -> None:
        # Claimed already, in the commit that recorded its news: run now, room or not (a claimed
        # saga left waiting would sit out its lease).
        track(asyncio.create_task(saga.run_claimed(claimed, order), name=claimed.lease.order_id))

    def track(task: asyncio.Task[Exception | None]) -> None:
        running[task.get_name()] = task
        task.add_done_callback(finished)

    saga.hand_over = run_handed_over

    async def work(stop: asyncio.Event) -> None:
        refreshed = 0.0
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    due = await sagas.due(batch_size) if len(running) < batch_size else []
                    waiting = [order_id for order_id in due if order_id not in running]
                    room = batch_size - len(running)
                    for order_id in waiting[:room]:
                        start(order_id)
                    backlog[0] = len(waiting) > room or len(due) == batch_size or room <= 0
                    if time.monotonic() - refreshed > GAUGE_REFRESH_S:
                        await _refresh_gauges(sagas)
                        await _refresh_order_gauges(saga.orders)
                        refreshed = time.monotonic()
                except Exception:  # the worker must outlive a failed round (e.g. a database restart)
                    log.exception("saga_round_failed")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval_s):  # not wait_for: kit/waiting.py says why
                        await _either(stop, wake)
        finally:
            # Cut off mid-step, a saga keeps its lease until it runs out and is due then: any
            # instance's worker carries it on (its steps are idempotent).
            for task in list(running.values()):
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    return work


async def _either(stop: asyncio.Event, wake: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


async def _refresh_gauges(sagas: SagaStore) -> None:
    counts = await sagas.count_by_state()
    for state in (plan.RUNNING, plan.COMPENSATING, plan.COMPLETED, plan.COMPENSATED, plan.NEEDS_ATTENTION):
        metrics.sagas_by_state.labels(state).set(counts.get(state, 0))
    metrics.sagas_needing_attention.set(counts.get(plan.NEEDS_ATTENTION, 0))


async def _refresh_order_gauges(orders: OrderStore) -> None:
    counts = await orders.count_by_status()
    for status in domain.STATUSES:
        metrics.orders_by_status.labels(status).set(counts.get(status, 0))
