"""Composition root of the order service: builds and wires everything, nothing at import time."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.house_auth import ServiceCredential
from flashsale.kit.http import ServiceClient
from flashsale.kit.idempotency import IdempotencyStore
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.orders import SERVICE, api, hot_routes
from flashsale.services.orders.clients import (
    CatalogClient,
    CustomersClient,
    InventoryClient,
    PaymentsClient,
    ShippingClient,
)
from flashsale.services.orders.consumers import Checkouts, customer_events, reservation_events
from flashsale.services.orders.operations import Checkout
from flashsale.services.orders.pricing import CatalogPrices, FixedPrice, PriceList
from flashsale.services.orders.reconcile import ContactReconciler, contact_reconciler
from flashsale.services.orders.saga import CheckoutSaga, SagaSettings
from flashsale.services.orders.saga_worker import saga_worker
from flashsale.services.orders.settings import OrderSettings
from flashsale.services.orders.store import ContactStore, JobSchedule, OrderStore, SagaStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: OrderSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or OrderSettings()
    runtime = ServiceRuntime.owning_state(SERVICE, settings, MIGRATIONS, clock)

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
        app.state.sagas = sagas
        app.state.idempotency = IdempotencyStore(runtime.db, runtime.clock, lock_s=settings.idempotency_lock_s)
        app.state.checkout = Checkout(store, sagas, saga, inventory, runtime.clock,
                                      prices=_prices(settings, clients, runtime))
        contacts = ContactStore(runtime.db, runtime.clock)
        app.state.contacts = contacts
        app.state.reconciler = _reconciler(settings, clients, contacts)
        runtime.subscribe(reservation_events(Checkouts(runtime.db, store, saga, runtime.clock)))
        runtime.subscribe(customer_events(runtime.db, runtime.clock))
        runtime.spawn(saga_worker(saga, sagas, interval_s=settings.saga_poll_interval_s,
                                  batch_size=settings.saga_batch_size))
        if app.state.reconciler is not None and settings.reconcile_interval_s > 0:
            schedule = JobSchedule(runtime.db, owner=f"{settings.instance}-{os.getpid()}")
            runtime.spawn(contact_reconciler(app.state.reconciler, schedule,
                                             interval_s=settings.reconcile_interval_s))
        try:
            yield
        finally:
            for client in clients.values():
                await client.close()

    app = service_app(runtime, lifespan)
    app.include_router(api.router)
    api.install_error_handlers(app)
    app.state.front = hot_routes.FRONT  # the buyers' polls answered in front of the app (hot_routes.py says why)
    return app


def _clients(settings: OrderSettings) -> dict[str, ServiceClient]:
    credential = ServiceCredential(SERVICE.name, settings.admin_token)
    clients = {
        "inventory": ServiceClient("inventory", settings.urls("inventory_urls"),
                                   timeout_s=settings.inventory_timeout_s, credential=credential),
        "payments": ServiceClient("payments", settings.urls("payments_urls"), timeout_s=settings.payments_timeout_s,
                                  credential=credential),
    }
    optional = {"shipping": settings.shipping_timeout_s, "catalog": settings.catalog_timeout_s,
                "customers": settings.customers_timeout_s}
    for name, timeout_s in optional.items():
        if settings.urls(f"{name}_urls"):
            clients[name] = ServiceClient(name, settings.urls(f"{name}_urls"), timeout_s=timeout_s,
                                          credential=credential)
    return clients


def _prices(settings: OrderSettings, clients: dict[str, ServiceClient], runtime: ServiceRuntime) -> PriceList:
    if "catalog" in clients:
        return CatalogPrices(CatalogClient(clients["catalog"]), runtime.clock)
    return FixedPrice(settings.unit_price_cents)


def _reconciler(
    settings: OrderSettings, clients: dict[str, ServiceClient], contacts: ContactStore
) -> ContactReconciler | None:
    if "customers" not in clients:
        return None
    customers = CustomersClient(clients["customers"], settings.admin_token)
    return ContactReconciler(contacts, customers, page_size=settings.reconcile_page_size)


def _saga_settings(settings: OrderSettings) -> SagaSettings:
    return SagaSettings(lease_s=settings.saga_lease_s, max_attempts=settings.saga_max_attempts,
                        park_after_s=settings.saga_park_after_s, retry_base_s=settings.saga_retry_base_s,
                        retry_cap_s=settings.saga_retry_cap_s)
