"""Composition root of the payments service: builds and wires everything, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.kit.settings import ServiceSettings
from flashsale.services.payments import api
from flashsale.services.payments.operations import Payments
from flashsale.services.payments.provider import SimulatedProvider
from flashsale.services.payments.store import SERVICE, PaymentStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    runtime = ServiceRuntime(SERVICE, settings or ServiceSettings(), MIGRATIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated) before this runs.
        app.state.payments = Payments(PaymentStore(runtime.db, runtime.clock), SimulatedProvider())
        yield

    app = service_app(SERVICE, runtime, lifespan)
    app.include_router(api.router)
    return app
