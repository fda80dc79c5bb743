"""The expiry sweeper: holds whose time is up give their units back to available.

Every instance of the service runs one. Each hold expires in its own short transaction that
first re-checks (under the row lock) that the hold is still HELD and due, so sweepers of several
instances, a release and a late confirmation can race without double-counting. The database's
clock decides what is due, not this process's: every instance's sweeper then agrees.

An order's hold expiring is a step of that order's journey, so it is traced in the order's trace
(and the ReservationExpired it announces carries that trace on to the order service).
"""

from __future__ import annotations

import asyncio

import structlog

from flashsale.kit.service import Loop
from flashsale.kit.tracing import in_journey
from flashsale.kit.waiting import wait_set
from flashsale.services.inventory.operations import Inventory

log = structlog.get_logger(__name__)


def expiry_sweeper(store: Inventory, *, interval_s: float, batch_size: int) -> Loop:
    """A background loop (for `ServiceRuntime.spawn`) that expires due holds until `stop` is set."""

    async def sweep(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                due = await _expire_due(store, batch_size)
            except Exception:  # the sweeper must outlive a failed round (e.g. a database restart)
                log.exception("expiry_sweep_failed")
                due = 0
            if due < batch_size:  # a full batch means more are waiting: go again at once
                await wait_set(stop, interval_s)

    return sweep


async def _expire_due(store: Inventory, batch_size: int) -> int:
    now = await store.now_ms()
    due = await store.due_holds(batch_size, now)
    for reservation_id, order_id in due:
        if order_id is None:
            await store.expire(reservation_id, now)
            continue
        with in_journey(order_id, "hold.expire", {"order.id": order_id, "reservation.id": reservation_id}):
            await store.expire(reservation_id, now)
    return len(due)
