"""What every service process has: its database, the bus, the outbox relay, health and metrics.

A service's `app.py` builds a `ServiceRuntime` and a FastAPI app with `service_app`; the runtime
starts in the app's lifespan (broker connection, relay, subscriptions, background loops) and
stops cleanly with it. `run_service` migrates the database first, from a child process, and
serves the app behind its front route if it has one. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import gc
import hmac
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flashsale.kit import house_auth, propagation
from flashsale.kit.bus import Bus, StreamLimits, Subscription
from flashsale.kit.clock import Clock, SystemClock, ms_from_iso
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.identity import ServiceIdentity
from flashsale.kit.migrations import upgrade, upgrade_in_child
from flashsale.kit.outbox import Relay
from flashsale.kit.problems import Problem, install_problem_handlers
from flashsale.kit.retention import RetentionPolicy, run_retention
from flashsale.kit.settings import ServiceSettings
from flashsale.kit.telemetry import configure_logging, metrics
from flashsale.kit.trace_points import RequestTracing
from flashsale.kit.tracing import configure_tracing, shutdown_tracing, tracing_wanted
from flashsale.kit.waiting import wait_set

log = structlog.get_logger(__name__)

Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class Keeps(enum.Enum):
    """What a service keeps, which decides what its runtime starts."""

    NOTHING = "nothing"
    """A stateless edge (the gateway, the monitor): no database, broker or relay."""
    PROJECTION = "projection"
    """A store fed by other services' events that announces nothing (reporting): its database and
    the broker, no outbox relay."""
    STATE = "state"
    """Its own state, whose changes it announces through its outbox: its database, the broker, the
    relay and the retention of the kit's tables."""


class ServiceRuntime:
    """What a service process runs beside its routes; built by the constructor named for what the
    service keeps: `stateless`, `projection` or `owning_state`."""

    def __init__(
        self, identity: ServiceIdentity, settings: ServiceSettings, keeps: Keeps, migrations: Path | None,
        clock: Clock | None = None,
    ) -> None:
        if (migrations is None) != (keeps is Keeps.NOTHING):
            raise ValueError("a service keeps something exactly when it has migrations")
        self.identity = identity
        self.name = identity.name
        self.keeps = keeps
        self.settings = settings
        self.migrations = migrations
        self.clock: Clock = clock or SystemClock()
        self.stop = asyncio.Event()
        self._db: Database | None = None
        self._bus: Bus | None = None
        self._relay: Relay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._migrated = False

    @classmethod
    def stateless(
        cls, identity: ServiceIdentity, settings: ServiceSettings, clock: Clock | None = None,
    ) -> ServiceRuntime:
        return cls(identity, settings, Keeps.NOTHING, None, clock)

    @classmethod
    def projection(
        cls, identity: ServiceIdentity, settings: ServiceSettings, migrations: Path, clock: Clock | None = None,
    ) -> ServiceRuntime:
        return cls(identity, settings, Keeps.PROJECTION, migrations, clock)

    @classmethod
    def owning_state(
        cls, identity: ServiceIdentity, settings: ServiceSettings, migrations: Path, clock: Clock | None = None,
    ) -> ServiceRuntime:
        return cls(identity, settings, Keeps.STATE, migrations, clock)

    def migrate_before_serving(self) -> None:
        """Bring the database to the newest revision from a child process (kit/migrations.py
        says why), so that starting migrates no more. Before the server starts: it forks."""
        if self.migrations is not None:
            upgrade_in_child(self.settings.database_url, self.migrations)
            self._migrated = True

    @property
    def db(self) -> Database:
        assert self._db is not None, "runtime not started"
        return self._db

    @property
    def bus(self) -> Bus:
        assert self._bus is not None, "runtime not started"
        return self._bus

    async def start(self) -> None:
        configure_logging(self.name, self.settings.instance, self.settings.log_level)
        configure_tracing(self.name, self.settings.instance, self.settings)
        propagation.watch.configure(self.settings.propagation_warn_ms)
        if self.migrations is not None:
            await self._start_storage(self.migrations)
        if self.settings.parent_pid:
            self.spawn(self._stop_when_orphaned)

    async def _start_storage(self, migrations: Path) -> None:
        self._db = await Database.connect(self.settings.database_url, pool_size=self.settings.db_pool_size,
                                          producer=self.name)
        if not self._migrated:  # an app started in this process without run_service
            await upgrade(self._db, migrations)
        self._bus = Bus(self.settings.broker_url, name=f"{self.name}-{self.settings.instance}",
                        limits=stream_limits(self.settings))
        self.spawn(self._connect_bus)
        if self.keeps is Keeps.PROJECTION:
            return
        policy = retention_policy(self.settings)
        self.spawn(lambda stop: run_retention(self.db, policy, self.clock, stop))
        self._relay = Relay(self._db, self._bus, self.name, self.clock,
                            poll_interval_s=self.settings.relay_poll_interval_s)
        self._db.on_events_committed(self._relay.notify)
        self.spawn(self._relay.run)

    async def _stop_when_orphaned(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if os.getppid() != self.settings.parent_pid:
                log.warning("parent_gone", parent_pid=self.settings.parent_pid)
                os.kill(os.getpid(), signal.SIGTERM)  # the server's own graceful shutdown
                return
            await wait_set(stop, 1.0)

    async def _connect_bus(self, stop: asyncio.Event) -> None:
        await self.bus.connect()

    def subscribe(self, subscription: Subscription) -> None:
        if self.settings.consumer_delay_ms > 0:
            subscription = delayed(subscription, self.settings.consumer_delay_ms)
        self.spawn(lambda stop: self.bus.run_subscription(subscription, stop))

    def spawn(self, loop: Loop) -> None:
        """Run a background loop until the service stops; it is given the stop event."""
        self._tasks.append(asyncio.create_task(loop(self.stop)))

    async def close(self) -> None:
        self.stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._bus is not None:
            await self._bus.close()
        if self._db is not None:
            await self._db.dispose()
        await asyncio.to_thread(shutdown_tracing)  # the last spans, written before the process ends

    async def healthy(self) -> dict[str, bool]:
        if self.keeps is Keeps.NOTHING:
            return {}  # stateless: up is healthy; its dependencies answer for themselves
        return {
            "database": self._db is not None and await self._db.ping(),
            "broker": self._bus is not None and self._bus.is_connected,
        }


def stream_limits(settings: ServiceSettings) -> StreamLimits:
    return StreamLimits(max_age_s=settings.stream_max_age_s, max_bytes=settings.stream_max_bytes,
                        dlq_max_age_s=settings.dlq_max_age_s, dlq_max_bytes=settings.dlq_max_bytes)


def retention_policy(settings: ServiceSettings) -> RetentionPolicy:
    return RetentionPolicy(outbox_s=settings.outbox_retention_s, inbox_s=settings.inbox_retention_s,
                           idempotency_s=settings.idempotency_retention_s, interval_s=settings.retention_interval_s)


def delayed(subscription: Subscription, delay_ms: int) -> Subscription:
    """The subscription with each event handled no sooner than `delay_ms` after it happened: a
    lagging read model on demand (settings.consumer_delay_ms, for tests). Events already that old
    (a backlog) pass at once, so the lag stays `delay_ms` however many events queue up."""
    handle = subscription.handler

    async def handle_late(envelope: Envelope) -> None:
        due_s = ms_from_iso(envelope.time) / 1000 + delay_ms / 1000
        await asyncio.sleep(max(0.0, due_s - time.time()))
        await handle(envelope)

    # One by one (no batch handler), so that each event waits for its own time.
    return dataclasses.replace(subscription, handler=handle_late, batch_handler=None)


def service_app(
    runtime: ServiceRuntime,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> FastAPI:
    """A FastAPI app with problem handlers, request metrics, /health and /metrics."""

    @contextlib.asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            async with lifespan(app):
                yield
        finally:
            await runtime.close()

    # FastAPI's native OpenTelemetry (0.165+) is switched off: request spans are the kit's
    # (kit/tracing.py, with its own provider, never the global one, so the native layer had
    # nothing to do). Left on, FastAPI asks whether it is enabled on every request: three global
    # provider lookups, each an `os.environ` miss (a KeyError raised and caught) while no global
    # provider is set: 1-6% of a hold's CPU in the profiles (bench/RESULTS.md).
    app = FastAPI(title=f"Flashsale {runtime.name}", lifespan=_lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.runtime = runtime
    install_problem_handlers(app)
    for observer in observers(runtime.settings):
        app.add_middleware(observer)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        parts = await runtime.healthy()
        ok = all(parts.values())
        body = {"status": "ok" if ok else "unavailable", "service": runtime.name, "checks": parts}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        # `?name[]=<sample name>` (repeatable) answers only those samples, as prometheus_client's
        # own exposition servers do: the dashboard reads a tenth of the page every second, and
        # rendering the rest (every route's latency histogram, every product's gauges) was most
        # of what an idle service spent.
        names = request.query_params.getlist("name[]")
        page = generate_latest(REGISTRY.restricted_registry(names) if names else REGISTRY)
        return Response(page, media_type=CONTENT_TYPE_LATEST)

    return app


async def require_admin(request: Request) -> None:
    """FastAPI dependency: `Authorization: Bearer <admin token>` or 401/403.

    Dependencies here are `async def` on purpose: FastAPI runs a plain `def` dependency in its
    thread pool, a thread hop per request on the hot path for what is a dictionary lookup."""
    token = request.app.state.runtime.settings.admin_token
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Problem(401, "unauthorized", "Authentication required", "send Authorization: Bearer <admin token>")
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise Problem(403, "forbidden", "Forbidden", "the admin token is not valid")


class RequestMetrics:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path): latency per route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The histogram of each (route, method, status), looked up once: `labels()` takes a lock
        # and builds its key on every call. Routes are templates, so this stays small.
        self._histograms: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            key = (getattr(route, "path", "unmatched"), scope["method"], status[0])
            histogram = self._histograms.get(key)
            if histogram is None:
                histogram = self._histograms[key] = metrics.requests.labels(key[0], key[1], str(key[2]))
            histogram.observe(time.perf_counter() - started)


def observers(settings: ServiceSettings) -> list[Callable[[ASGIApp], ASGIApp]]:
    """The middleware every request of a service passes, innermost first: its latency histogram
    and, when tracing is wanted, its server span (outermost: the span covers the metrics too)."""
    return [RequestMetrics, RequestTracing] if tracing_wanted(settings) else [RequestMetrics]


def observed(app: ASGIApp, settings: ServiceSettings) -> ASGIApp:
    """`app` behind the service's observers, as its FastAPI app has them (`service_app`): for a
    route a service answers in front of that app (`front`)."""
    for observer in observers(settings):
        app = observer(app)
    return app


def front(app: FastAPI) -> ASGIApp:
    """What the server runs: `app`, behind the front route its service may have given it
    (`app.state.front`, a middleware class taking the app). A front route skips FastAPI's whole
    stack (routing, its middleware, a coroutine frame per layer on every resumption) for a
    service's hottest request; it answers with the app's observers and exception handlers."""
    given = getattr(app.state, "front", None)
    return app if given is None else given(app)


def served(app: FastAPI, settings: ServiceSettings, *, internal: bool = True) -> ASGIApp:
    """What a service's server runs, and what the tests' in-process tier calls: the app behind its
    front route, and for an `internal` service behind the house's credential check when its
    settings ask for one (kit/house_auth.py)."""
    server_app = front(app)
    if internal and house_auth.required(settings.internal_auth, settings.host):
        server_app = house_auth.InternalApi(server_app, house_auth.HouseGate(settings.admin_token))
        log.info("internal_api_guarded", host=settings.host)
    return server_app


def freeze_startup_objects() -> None:
    """Before serving: what the app built at startup (routes, models, SQL, metrics) moves out of
    the collector's reach for good (`gc.freeze`: it is never garbage). A full collection no longer
    scans it: under a checkout load the collector was ~3-4 % of a service's CPU (measured with
    perf). The generations' thresholds stay CPython's: raising the youngest's (20,000 allocations
    instead of 700) took the order service's peak memory past its 120 MB bound on SQLite."""
    gc.collect()
    gc.freeze()


def run_service(create_app: Callable[[], Any], settings: ServiceSettings, *, internal: bool = True) -> None:
    """Serve the app on uvicorn (uvloop, httptools, each answer in one write: kit/http_server.py),
    as every service process does. An `internal` service (all but the public edges: the gateway,
    the operators' dashboard) asks callers for the house's credential when its settings say so
    (kit/house_auth.py)."""
    import uvicorn

    from flashsale.kit.http_server import OneWriteHttpProtocol

    app = create_app()
    app.state.runtime.migrate_before_serving()
    freeze_startup_objects()
    uvicorn.run(
        served(app, settings, internal=internal),
        host=settings.host, port=settings.port, loop="uvloop", http=OneWriteHttpProtocol,
        access_log=False, log_level="warning", timeout_graceful_shutdown=5,
        # uvicorn would trust X-Forwarded-For from 127.0.0.1 unless told otherwise: the setting decides.
        proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=settings.trusted_proxies or None,
        # Longer than any client's idle keep-alive (aiohttp: 15 s): when the server closes an idle
        # connection first, a client can send on it in the same instant and see a reset instead
        # of an answer.
        timeout_keep_alive=30,
    )
