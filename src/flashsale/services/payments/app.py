"""Composition root of the payments service: builds and wires everything, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.payments import SERVICE, api, hot_routes
from flashsale.services.payments.operations import Payments
from flashsale.services.payments.provider import SimulatedProvider
from flashsale.services.payments.retries import RetryPolicy
from flashsale.services.payments.settings import PaymentsSettings
from flashsale.services.payments.store import PaymentStore, ProviderBookStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: PaymentsSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    runtime = ServiceRuntime.owning_state(SERVICE, settings, MIGRATIONS, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated) before this runs.
        store = PaymentStore(runtime.db, runtime.clock, stale_pending_ms=settings.stale_pending_ms)
        provider = SimulatedProvider(ProviderBookStore(runtime.db, runtime.clock))
        policy = RetryPolicy(attempts=settings.provider_attempts, timeout_s=settings.provider_timeout_s)
        app.state.payments = Payments(store, provider, policy)
        yield
        await provider.settle()

    app = service_app(runtime, lifespan)
    app.include_router(api.router)
    api.install_error_handlers(app)
    app.state.front = hot_routes.FRONT  # a checkout's calls answered in front of the app (kit.front_routes)
    return app
