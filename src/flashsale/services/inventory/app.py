"""The composition root: `create_app()` wires the inventory service; nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.inventory import SERVICE, hot_path
from flashsale.services.inventory.api import install_error_handlers, router
from flashsale.services.inventory.consumers import order_events
from flashsale.services.inventory.gauges import stock_gauges
from flashsale.services.inventory.operations import Inventory
from flashsale.services.inventory.settings import InventorySettings
from flashsale.services.inventory.store.holds import HoldStrategy, hold_all_txn
from flashsale.services.inventory.sweeper import expiry_sweeper

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: InventorySettings | None = None, clock: Clock | None = None, *, hold_all: HoldStrategy = hold_all_txn,
) -> FastAPI:
    """`hold_all`: how an all-or-nothing hold that is not coalesced takes stock (the bench's
    lock-then-write baseline, bench/naive_inventory.py, is given here)."""
    settings = settings or InventorySettings()
    runtime = ServiceRuntime.owning_state(SERVICE, settings, MIGRATIONS, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated, relay running) when this runs.
        store = Inventory(
            runtime.db, runtime.clock, hold_ttl_s=settings.hold_ttl, hold_strategy=settings.hold_strategy,
            max_batch=settings.hold_batch_max, linger_s=settings.hold_batch_linger_ms / 1000, hold_all=hold_all,
        )
        app.state.store = store
        runtime.subscribe(order_events(store))
        runtime.spawn(
            expiry_sweeper(store, interval_s=settings.sweep_interval_s, batch_size=settings.sweep_batch_size)
        )
        runtime.spawn(stock_gauges(store, interval_s=settings.stock_gauges_interval_s))
        yield

    app = service_app(runtime, lifespan)
    app.include_router(router)
    install_error_handlers(app)
    app.state.front = hot_path.FRONT  # reserves answered in front of the app (hot_path.py says why)
    return app
