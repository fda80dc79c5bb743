"""The in-process tier: a service's app, built by its `create_app(settings, clock)`, served inside
the test process.

What it runs is what a service process runs (`kit.service.served`: the app behind its front route
and, where its settings ask, the house's credential check) with the app's whole lifespan: its
migrations, relay, consumers and background loops, against a real database (SQLite or PostgreSQL)
and the session's real NATS. What it leaves out is the process: no interpreter to start, no
imports, no migrations in a child, no port. So a rule of one service's API or consumers (what a
bad request is answered, what an event does) is checked here; what needs processes (a crash, two
instances racing, a restart, a service calling another over HTTP) stays with the process tier
(tests/conftest.py `ServiceLauncher`).

Requests go through `httpx.ASGITransport`, on an event loop in a thread of its own that runs for as
long as the app does, so the app's relay and consumers work on while a test waits; `http` is a
plain (synchronous) httpx.Client whose transport hands each request to that loop, so the tests and
their clients are the same as against a process. `clock` is the app's clock: a test
that moves time passes a `ManualClock` (leases and hold expiry that read the database's clock move
with that clock only). Prometheus counters are per process: every app of a worker writes to one
registry, so a test reads a counter it moved, not one another app may move. Logs are too: what the
apps log (at WARNING, a process's default) is kept in `LOGGED` for a test to look for its own
entries there, where a process's test reads the process's log file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp

from flashsale.kit import house_auth
from flashsale.kit.clock import Clock
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.service import served
from flashsale.kit.settings import ServiceSettings
from flashsale.services.catalog.app import create_app as catalog_app
from flashsale.services.catalog.settings import CatalogSettings
from flashsale.services.customers.app import create_app as customers_app
from flashsale.services.gateway.app import create_app as gateway_app
from flashsale.services.gateway.settings import GatewaySettings
from flashsale.services.inventory.app import create_app as inventory_app
from flashsale.services.inventory.settings import InventorySettings
from flashsale.services.monitor.app import create_app as monitor_app
from flashsale.services.monitor.settings import MonitorSettings
from flashsale.services.notifications.app import create_app as notifications_app
from flashsale.services.orders.app import create_app as orders_app
from flashsale.services.orders.settings import OrderSettings
from flashsale.services.payments.app import create_app as payments_app
from flashsale.services.payments.settings import PaymentsSettings
from flashsale.services.reporting.app import create_app as reporting_app
from flashsale.services.shipping.app import create_app as shipping_app
from support.polling import wait_for

CreateApp = Callable[..., FastAPI]

# service -> (its create_app, its settings class)
APPS: dict[str, tuple[CreateApp, type[ServiceSettings]]] = {
    "inventory": (inventory_app, InventorySettings),
    "orders": (orders_app, OrderSettings),
    "payments": (payments_app, PaymentsSettings),
    "shipping": (shipping_app, ServiceSettings),
    "notifications": (notifications_app, ServiceSettings),
    "catalog": (catalog_app, CatalogSettings),
    "customers": (customers_app, ServiceSettings),
    "reporting": (reporting_app, ServiceSettings),
    "monitor": (monitor_app, MonitorSettings),
    "gateway": (gateway_app, GatewaySettings),
}


def settings_for(name: str, **fields: Any) -> ServiceSettings:
    """The settings of service `name`: no tracing unless `fields` say otherwise, and the logs of a
    process (WARNING: see `record_logs`)."""
    kind = APPS[name][1]
    return kind(**{"log_level": "WARNING", "tracing": "off", **fields})


@dataclass
class InProcessService:
    """A started app: `http` calls it, `app.state` holds what its lifespan built."""

    name: str
    app: FastAPI
    settings: ServiceSettings
    clock: Clock | None
    http: InProcessClient


class InProcessHouse:
    """The apps one test module shares, each started on first use and all stopped at its end
    (the in-process counterpart of the process tier's `house`)."""

    def __init__(self, database_base: str, nats_url: str, admin_token: str) -> None:
        self.database_base = database_base
        self.nats_url = nats_url
        self.admin_token = admin_token
        self._started: dict[tuple[str, str, tuple[tuple[str, str], ...]], InProcessService] = {}
        self._stack = contextlib.ExitStack()

    def shared(self, name: str, *, instance: str = "1", clock: Clock | None = None, **fields: Any) -> InProcessService:
        """The app of service `name` with these settings (and clock), started on first use."""
        key = (name, instance, tuple(sorted((field, repr(value)) for field, value in fields.items())))
        if key not in self._started:
            self._started[key] = self.start(name, instance=instance, clock=clock, **fields)
        return self._started[key]

    def start(self, name: str, *, instance: str = "1", clock: Clock | None = None, **fields: Any) -> InProcessService:
        """A new app of service `name`, running until the house closes."""
        settings = settings_for(
            name, database_url=service_database_url(self.database_base, name), broker_url=self.nats_url,
            admin_token=self.admin_token, instance=instance, **fields,
        )
        app = APPS[name][0](settings, clock)
        loop = self._stack.enter_context(running(app))  # its lifespan: migrations, relay, consumers
        record_logs()  # the logging its lifespan configured
        server_app = served(app, settings, internal=name not in house_auth.PUBLIC_EDGES)
        client = InProcessClient(OnItsLoop(server_app, loop), base_url=f"http://{name}-{instance}.test")
        self._stack.callback(client.close)
        # Handed out healthy, as the process tier hands out a process (`wait_healthy`): the broker's
        # connection is made in the background, and a busy machine may not have it yet.
        wait_for(lambda: client.get("/health").status_code == 200, timeout_s=30, what=f"{name} healthy")
        return InProcessService(name, app, settings, clock, client)

    def close(self) -> None:
        self._stack.close()


# What the apps served in this process logged, oldest first: structlog's event dicts, each with
# its `level`. Bounded: a test looks for entries it caused moments ago.
LOGGED: collections.deque[dict[str, Any]] = collections.deque(maxlen=20_000)


def _record(_: Any, level: str, entry: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    LOGGED.append({**entry, "level": level})
    return entry


def record_logs() -> None:
    """Have structlog's processors, as the last app's start configured them, keep each entry in
    `LOGGED`. Every start configures them anew, and a logger keeps the processors of the first
    time it was used (kit.telemetry caches loggers), so each configuration gets the recorder.
    A logger keeps its level from then on too: so every app logs at one level (`settings_for`),
    lest a warning go unrecorded for a logger an app at ERROR used first in this process."""
    processors = structlog.get_config()["processors"]
    if _record not in processors:
        processors.insert(0, _record)


def logged(event: str, level: str, **fields: Any) -> bool:
    """Whether an app served in this process logged `event` at `level` with these fields."""
    return any(
        entry.get("event") == event and entry["level"] == level
        and all(entry.get(key) == value for key, value in fields.items())
        for entry in list(LOGGED)
    )


@contextlib.contextmanager
def running(app: FastAPI, timeout_s: float = 60.0) -> Iterator[asyncio.AbstractEventLoop]:
    """`app` started (its lifespan entered) on an event loop in a thread of its own, which runs
    until the block ends and the lifespan has been left."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"app-{app.title}", daemon=True)
    thread.start()
    stop = asyncio.Event()
    started: asyncio.Future[None] = loop.create_future()

    async def live() -> None:
        async with app.router.lifespan_context(app):
            started.set_result(None)
            await stop.wait()

    lived = asyncio.run_coroutine_threadsafe(live(), loop)
    try:
        asyncio.run_coroutine_threadsafe(_first(started, lived), loop).result(timeout_s)
        yield loop
    finally:
        loop.call_soon_threadsafe(stop.set)
        with contextlib.suppress(Exception):  # a failed start has raised above already
            lived.result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        loop.close()


async def _first(started: asyncio.Future[None], lived: Any) -> None:
    """Wait until the app has started, or raise what stopped it from starting."""
    task = asyncio.wrap_future(lived)
    await asyncio.wait([started, task], return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        task.result()
        raise RuntimeError("the app's lifespan ended before it started")


class InProcessClient(httpx.Client):
    """The client of an app served in-process: a plain httpx.Client, and `at_once` for a crowd."""

    def __init__(self, transport: OnItsLoop, base_url: str) -> None:
        super().__init__(transport=transport, base_url=base_url)
        self._on_its_loop = transport

    def at_once(self, requests: list[httpx.Request]) -> list[httpx.Response]:
        """Every request (from `build_request`) handed to the app together, as many clients
        reaching one process at the same moment are; the answers in the requests' order."""
        return self._on_its_loop.handle_all(requests)


class OnItsLoop(httpx.BaseTransport):
    """A synchronous transport that hands each request to `app` through `httpx.ASGITransport` on
    the app's own loop, and waits for the whole answer."""

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop, timeout_s: float = 60.0) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = loop
        self._timeout_s = timeout_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(self._answer(request), self._loop).result(self._timeout_s)

    def handle_all(self, requests: list[httpx.Request]) -> list[httpx.Response]:
        return asyncio.run_coroutine_threadsafe(self._answer_all(requests), self._loop).result(self._timeout_s)

    async def _answer_all(self, requests: list[httpx.Request]) -> list[httpx.Response]:
        return list(await asyncio.gather(*(self._answer(request) for request in requests)))

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        sent = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        answer = await self._asgi.handle_async_request(sent)
        content = await answer.aread()
        return httpx.Response(answer.status_code, headers=answer.headers, content=content, request=request)
