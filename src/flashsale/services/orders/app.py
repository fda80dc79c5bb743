"""Composition root of the order service: builds and wires everything, nothing at import time."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.http import ServiceClient
from flashsale.kit.idempotency import IdempotencyStore
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.orders import api
from flashsale.services.orders.checkout import Checkout
from flashsale.services.orders.clients import InventoryClient, PaymentsClient, ShippingClient
from flashsale.services.orders.consumers import ReservationEvents
from flashsale.services.orders.saga import CheckoutSaga, SagaSettings
from flashsale.services.orders.saga_worker import saga_worker
from flashsale.services.orders.settings import OrderSettings
from flashsale.services.orders.store import SERVICE, OrderStore, SagaStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    settings = settings or OrderSettings()
    runtime = ServiceRuntime(SERVICE, settings, MIGRATIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated, broker connecting) before this runs.
        clients = _clients(settings)
        inventory = InventoryClient(clients["inventory"])
        payments = PaymentsClient(clients["payments"], settings.payments_timeout_s)
        shipping = ShippingClient(clients["shipping"]) if "shipping" in clients else None
        store = OrderStore(runtime.db, runtime.clock)
        sagas = SagaStore(runtime.db, runtime.clock, owner=f"{settings.instance}-{os.getpid()}")
        saga = CheckoutSaga(runtime.db, store, sagas, inventory, payments, shipping, runtime.clock,
                            _saga_settings(settings))
        app.state.orders = store
        app.state.idempotency = IdempotencyStore(runtime.db, runtime.clock, lock_s=settings.idempotency_lock_s)
        app.state.checkout = Checkout(store, sagas, saga, inventory, runtime.clock,
                                      unit_price_cents=settings.unit_price_cents)
        runtime.subscribe(ReservationEvents(runtime.db, store, saga, runtime.clock).subscription())
        runtime.spawn(saga_worker(saga, sagas, interval_s=settings.saga_poll_interval_s,
                                  batch_size=settings.saga_batch_size))
        try:
            yield
        finally:
            for client in clients.values():
                await client.close()

    app = service_app(SERVICE, runtime, lifespan)
    app.include_router(api.router)
    return app


def _clients(settings: OrderSettings) -> dict[str, ServiceClient]:
    clients = {
        "inventory": ServiceClient("inventory", settings.urls("inventory_urls"),
                                   timeout_s=settings.inventory_timeout_s),
        "payments": ServiceClient("payments", settings.urls("payments_urls"), timeout_s=settings.payments_timeout_s),
    }
    if settings.urls("shipping_urls"):
        clients["shipping"] = ServiceClient("shipping", settings.urls("shipping_urls"),
                                            timeout_s=settings.shipping_timeout_s)
    return clients


def _saga_settings(settings: OrderSettings) -> SagaSettings:
    return SagaSettings(lease_s=settings.saga_lease_s, max_attempts=settings.saga_max_attempts,
                        retry_base_s=settings.saga_retry_base_s, retry_cap_s=settings.saga_retry_cap_s)
