"""The saga worker: every order instance runs one, advancing the sagas that are due.

Due means: an event recorded news (stock deducted, a hold expired), a failed step's retry time
came, or a runner died holding a saga and its lease ran out. The worker claims each saga's lease
before running it, so the workers of several instances never run one saga twice at once.
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
from flashsale.services.orders.store import OrderStore, SagaStore

log = structlog.get_logger(__name__)

GAUGE_REFRESH_S = 5.0


def saga_worker(saga: CheckoutSaga, sagas: SagaStore, *, interval_s: float, batch_size: int) -> Loop:
    """A background loop (for `ServiceRuntime.spawn`) until `stop` is set."""
    wake = asyncio.Event()
    saga.wake_worker = wake.set

    async def work(stop: asyncio.Event) -> None:
        refreshed = 0.0
        while not stop.is_set():
            wake.clear()
            due: list[str] = []
            try:
                due = await sagas.due(batch_size)
                await asyncio.gather(*(saga.resume(order_id) for order_id in due))
                if time.monotonic() - refreshed > GAUGE_REFRESH_S:
                    await _refresh_gauges(sagas)
                    await _refresh_order_gauges(saga.orders)
                    refreshed = time.monotonic()
            except Exception:  # the worker must outlive a failed round (e.g. a database restart)
                log.exception("saga_round_failed")
            if len(due) < batch_size:  # a full batch means more are waiting: go again at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_either(stop, wake), interval_s)

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
