"""Composition root of the reporting service: builds and wires everything, nothing at import time.

A pure consumer: its own database (the projection's tables), the broker, no outbox (it announces
nothing, so no relay).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.kit.settings import ServiceSettings
from flashsale.services.reporting import SERVICE, api
from flashsale.services.reporting.consumers import every_event
from flashsale.services.reporting.domain import PRODUCERS
from flashsale.services.reporting.store import ReportStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    runtime = ServiceRuntime.projection(SERVICE, settings or ServiceSettings(), MIGRATIONS, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated) before this runs.
        store = ReportStore(runtime.db)
        app.state.store = store
        for producer in PRODUCERS:
            runtime.subscribe(every_event(store, producer, runtime.clock))
        yield

    app = service_app(runtime, lifespan)
    app.include_router(api.router)
    return app
