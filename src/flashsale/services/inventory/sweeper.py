"""The expiry sweeper: holds whose time is up give their units back to available.

Every instance of the service runs one. Each hold expires in its own short transaction that
first re-checks (under the row lock) that the hold is still HELD and due, so sweepers of several
instances, a release and a late confirmation can race without double-counting.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from flashsale.kit.service import Loop
from flashsale.services.inventory.store import InventoryStore

log = structlog.get_logger(__name__)


def expiry_sweeper(store: InventoryStore, *, interval_s: float, batch_size: int) -> Loop:
    """A background loop (for `ServiceRuntime.spawn`) that expires due holds until `stop` is set."""

    async def sweep(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                due = await store.expire_due(batch_size)
            except Exception:  # the sweeper must outlive a failed round (e.g. a database restart)
                log.exception("expiry_sweep_failed")
                due = 0
            if due < batch_size:  # a full batch means more are waiting: go again at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)

    return sweep
