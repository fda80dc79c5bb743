"""Composition root of the customers service: builds and wires everything, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.kit.settings import ServiceSettings
from flashsale.services.customers import SERVICE, accounts_api, api
from flashsale.services.customers.accounts import Accounts
from flashsale.services.customers.operations import Customers
from flashsale.services.customers.store import CredentialStore, CustomerStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ServiceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    runtime = ServiceRuntime.owning_state(SERVICE, settings or ServiceSettings(), MIGRATIONS, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime has started (database migrated, relay running) before this runs.
        app.state.customers = Customers(CustomerStore(runtime.db, runtime.clock))
        app.state.accounts = Accounts(CustomerStore(runtime.db, runtime.clock),
                                      CredentialStore(runtime.db, runtime.clock))
        yield

    app = service_app(runtime, lifespan)
    app.include_router(accounts_api.router)
    app.include_router(api.router)
    api.install_error_handlers(app)
    return app
