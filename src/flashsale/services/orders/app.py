"""Composition root of the order service: builds and wires everything, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.http import ServiceClient
from flashsale.kit.idempotency import IdempotencyStore
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.orders import api
from flashsale.services.orders.checkout import Checkout
from flashsale.services.orders.clients import InventoryClient, PaymentsClient
from flashsale.services.orders.consumers import ReservationEvents
from flashsale.services.orders.settings import OrderSettings
from flashsale.services.orders.store import SERVICE, OrderStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    settings = settings or OrderSettings()
    runtime = ServiceRuntime(SERVICE, settings, MIGRATIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated, broker connecting) before this runs.
        inventory_http = ServiceClient("inventory", settings.urls("inventory_urls"),
                                       timeout_s=settings.inventory_timeout_s)
        payments_http = ServiceClient("payments", settings.urls("payments_urls"),
                                      timeout_s=settings.payments_timeout_s)
        store = OrderStore(runtime.db, runtime.clock)
        payments = PaymentsClient(payments_http, settings.payments_timeout_s)
        app.state.orders = store
        app.state.idempotency = IdempotencyStore(runtime.db, runtime.clock)
        app.state.checkout = Checkout(store, InventoryClient(inventory_http), payments, runtime.clock,
                                      unit_price_cents=settings.unit_price_cents)
        runtime.subscribe(ReservationEvents(runtime.db, store, payments, runtime.clock).subscription())
        try:
            yield
        finally:
            await inventory_http.close()
            await payments_http.close()

    app = service_app(SERVICE, runtime, lifespan)
    app.include_router(api.router)
    return app
