"""Composition root of the catalog service: builds and wires everything, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.house_auth import ServiceCredential
from flashsale.kit.http import ServiceClient
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.catalog import SERVICE, api, hot_routes
from flashsale.services.catalog.clients import InventoryStock
from flashsale.services.catalog.consumers import stock_levels
from flashsale.services.catalog.operations import Products
from flashsale.services.catalog.reconcile import Reconciler
from flashsale.services.catalog.settings import CatalogSettings
from flashsale.services.catalog.store import CatalogStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CatalogSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    runtime = ServiceRuntime.owning_state(SERVICE, settings, MIGRATIONS, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated, relay running) before this runs.
        store = CatalogStore(runtime.db, runtime.clock)
        app.state.products = Products(store)
        app.state.low_threshold = settings.low_stock_threshold
        runtime.subscribe(stock_levels(store))
        inventory = _inventory(settings)
        reconciler = Reconciler(store, inventory, runtime.bus, page_size=settings.reconcile_page_size,
                                settle_s=settings.reconcile_settle_s)
        app.state.reconciler = reconciler
        if inventory is not None:
            runtime.spawn(lambda stop: reconciler.every(settings.reconcile_interval_s, stop))
        try:
            yield
        finally:
            if inventory is not None:
                await inventory.close()

    app = service_app(runtime, lifespan)
    app.include_router(api.router)
    api.install_error_handlers(app)
    app.state.front = hot_routes.FRONT  # a checkout's calls answered in front of the app (kit.front_routes)
    return app


def _inventory(settings: CatalogSettings) -> InventoryStock | None:
    """The inventory's stock listing, walked by reconciliation; None when no URL is configured."""
    urls = settings.urls("inventory_urls")
    if not urls:
        return None
    credential = ServiceCredential(SERVICE.name, settings.admin_token)
    return InventoryStock(ServiceClient("inventory", urls, timeout_s=10.0, credential=credential), settings.admin_token)
