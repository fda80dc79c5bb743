"""Composition root of the gateway: builds and wires everything, nothing at import time.

The gateway is stateless (no database): what it keeps (recent writes, rate-limit windows, the
sold-out copy and the customers' profiles it overhears the broker for) lives in the process and
may be lost on restart at no cost but a moment of staleness.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from flashsale.kit.bus import Bus
from flashsale.kit.clock import Clock
from flashsale.kit.problems import problem_response
from flashsale.kit.service import ServiceRuntime, service_app, stream_limits
from flashsale.services.gateway import SERVICE, api_admin, api_orders, api_public, pages
from flashsale.services.gateway.assets import Assets
from flashsale.services.gateway.auth import Keys
from flashsale.services.gateway.compose import Reads
from flashsale.services.gateway.copies import Copies
from flashsale.services.gateway.door import BuyDoor
from flashsale.services.gateway.edge import Admission, BodyLimit, Throttle
from flashsale.services.gateway.errors import GatewayProblem
from flashsale.services.gateway.feed import hear_the_house
from flashsale.services.gateway.freshness import RecentWrites
from flashsale.services.gateway.polls import OrderPolls
from flashsale.services.gateway.profiles import KeptProfiles
from flashsale.services.gateway.settings import GatewaySettings
from flashsale.services.gateway.sold_out import SoldOut
from flashsale.services.gateway.upstream import Upstreams


def create_app(settings: GatewaySettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    if not settings.gateway_secret:
        raise ValueError("FLASHSALE_GATEWAY_SECRET is not set: the gateway cannot sign tokens without it")
    runtime = ServiceRuntime.stateless(SERVICE, settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upstreams = Upstreams(settings)
        recent = RecentWrites(int(settings.read_your_writes_s * 1000))
        app.state.upstreams = upstreams
        app.state.keys = Keys(settings.gateway_secret, settings.token_ttl_s, runtime.clock, settings.refresh_ttl_s)
        app.state.throttle = Throttle(settings.rate_limit)
        kept_ms = int(settings.parts_kept_s * 1000)
        profiles = KeptProfiles(kept_ms, int(max(settings.profiles_kept_s, settings.parts_kept_s) * 1000))
        app.state.reads = Reads(upstreams, recent, runtime.clock, settings.part_timeout_s,
                                settings.low_stock_threshold, products=Copies(kept_ms), profiles=profiles,
                                levels=Copies(kept_ms))
        app.state.admission = Admission(settings.max_buys_in_flight)
        app.state.sold_out = SoldOut(int(settings.sold_out_ttl_s * 1000))
        # The broker is overheard when a copy has use for it: the sold-out marks, or profiles kept
        # for longer than every other part (feed.py).
        bus = (Bus(settings.broker_url, name=f"{SERVICE.name}-{settings.instance}", limits=stream_limits(settings))
               if settings.sold_out_ttl_s or settings.profiles_kept_s > settings.parts_kept_s else None)
        if bus is not None:
            runtime.spawn(lambda stop: hear_the_house(bus, app.state.sold_out, profiles, runtime.clock, stop))
        try:
            yield
        finally:
            await upstreams.close()
            if bus is not None:
                await bus.close()

    app = service_app(runtime, lifespan)
    app.include_router(api_public.router)
    app.include_router(api_orders.router)
    app.include_router(api_admin.router)
    app.state.assets = Assets.load()  # the storefront's files, read once (a few kilobytes)
    app.include_router(pages.router)

    @app.exception_handler(GatewayProblem)
    async def _with_headers(request: Request, exc: GatewayProblem) -> JSONResponse:
        response = problem_response(exc, request.url.path)
        response.headers.update(exc.headers)
        return response

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # In front of the app: buyers' polls of their orders (polls.py says why), then their buy
    # attempts and payments, the sold-out crowd's refused (door.py says why).
    app.state.front = lambda app: OrderPolls(BuyDoor(app), app)
    return app
