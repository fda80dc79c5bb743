"""Composition root of the notifications service: builds and wires everything, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.kit.settings import ServiceSettings
from flashsale.services.notifications import SERVICE, api
from flashsale.services.notifications.consumers import order_outcomes
from flashsale.services.notifications.store import NotificationStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    runtime = ServiceRuntime.owning_state(SERVICE, settings or ServiceSettings(), MIGRATIONS, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated) before this runs.
        store = NotificationStore(runtime.db, runtime.clock)
        app.state.store = store
        runtime.subscribe(order_outcomes(store))
        yield

    app = service_app(runtime, lifespan)
    app.include_router(api.router)
    api.install_error_handlers(app)
    return app
