"""Composition root of the shipping service: builds and wires everything, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.kit.settings import ServiceSettings
from flashsale.services.shipping import SERVICE, api, hot_routes
from flashsale.services.shipping.operations import Shipments
from flashsale.services.shipping.store import ShipmentStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    runtime = ServiceRuntime.owning_state(SERVICE, settings or ServiceSettings(), MIGRATIONS, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated, relay running) before this runs.
        app.state.shipments = Shipments(ShipmentStore(runtime.db, runtime.clock))
        yield

    app = service_app(runtime, lifespan)
    app.include_router(api.router)
    api.install_error_handlers(app)
    app.state.front = hot_routes.FRONT  # a checkout's calls answered in front of the app (kit.front_routes)
    return app
