"""Composition root of the reporting service: builds and wires everything, nothing at import time.

A pure consumer: no SQL database, no outbox (it announces nothing); the runtime connects it to
the broker, and its store is a DuckDB file of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.reporting import api
from flashsale.services.reporting.consumers import every_event
from flashsale.services.reporting.domain import PRODUCERS
from flashsale.services.reporting.settings import ReportingSettings
from flashsale.services.reporting.store import ReportStore

SERVICE = "reporting"


def create_app(settings: ReportingSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    runtime = ServiceRuntime(SERVICE, settings, None, clock, consumes=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await ReportStore.open(settings.store_path())
        app.state.store = store
        runtime.spawn(lambda stop: _close_when_stopped(store, stop))
        for producer in PRODUCERS:
            runtime.subscribe(every_event(store, producer, runtime.clock))
        yield

    app = service_app(SERVICE, runtime, lifespan)
    app.include_router(api.router)
    return app


async def _close_when_stopped(store: ReportStore, stop: asyncio.Event) -> None:
    """Close the store as the runtime stops its loops: after any write under way (the store's lock
    waits for it), so the file is left checkpointed."""
    try:
        await stop.wait()
    finally:
        await store.close()
