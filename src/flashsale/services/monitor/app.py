"""Composition root of the consistency monitor: builds and wires everything, nothing at import time.

The monitor is stateless (no database, no broker): it only reads the other services' APIs, and
what it keeps (the last round, the dashboard's last minutes of scrapes) is rebuilt after a restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from flashsale.consistency.sampler import ConsistencySampler, sources_from
from flashsale.kit.clock import Clock
from flashsale.kit.service import ServiceRuntime, service_app
from flashsale.services.monitor import SERVICE, api, dashboard
from flashsale.services.monitor.monitor import Monitor
from flashsale.services.monitor.scrape import Scraper
from flashsale.services.monitor.series import Series
from flashsale.services.monitor.settings import MonitorSettings

# What the operations dashboard scrapes (every instance of each).
SCRAPED = ("inventory", "orders", "payments", "shipping", "notifications", "catalog", "customers", "gateway",
           "reporting")


def create_app(settings: MonitorSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or MonitorSettings()
    runtime = ServiceRuntime.stateless(SERVICE, settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        urls = {name: settings.urls(f"{name}_urls") for name in ("inventory", "catalog", "orders", "customers")}
        sampler = ConsistencySampler(sources_from(urls, settings.admin_token), sample_size=settings.sample_size,
                                     grace_s=settings.grace_s)
        monitor = Monitor(sampler, runtime.clock, interval_s=settings.check_interval_s)
        app.state.monitor = monitor
        runtime.spawn(monitor.run)
        scraper = _scraper(settings, runtime)
        app.state.scraper = scraper
        runtime.spawn(scraper.run)
        runtime.spawn(scraper.watch_attention)
        try:
            yield
        finally:
            await sampler.close()
            await scraper.close()

    app = service_app(runtime, lifespan)
    app.include_router(api.router)
    dashboard.install(app)
    return app


def _scraper(settings: MonitorSettings, runtime: ServiceRuntime) -> Scraper:
    targets = {name: settings.urls(f"{name}_urls") for name in SCRAPED}
    series = Series(window_s=settings.dashboard_window_s, interval_s=settings.scrape_interval_s)
    return Scraper({name: urls for name, urls in targets.items() if urls}, series, runtime.clock,
                   admin_token=settings.admin_token, broker_url=settings.broker_url,
                   interval_s=settings.scrape_interval_s)
