"""Tracing (OpenTelemetry): spans for requests, calls, transactions, publishes and consumptions.

The trace context travels in the W3C `traceparent` header on HTTP calls, in the CloudEvents
`traceparent` extension of every event (written into the outbox with the event, so the relay
publishes it under the context it was written in), and in a `traceparent` NATS header naming the
relay's publish span. A consumer's span is a child of that.

Journeys. An order is placed by one request and paid by another, and its saga runs on in
whichever instance's worker picks it up: no single request context spans it. So a journey's
trace id is derived from its key (`journey_ids`): the span that starts it (`journey`) is that
trace's root, and any process working on it later (`in_journey`) makes its span a child of that
root, linking the request it serves. Nothing is stored, and a restart or another instance
changes nothing. `flashsale trace ORDER_ID` finds the journey by the same derivation.

Off (FLASHSALE_TRACING=off), or with nowhere to send spans (neither an OTLP endpoint nor
FLASHSALE_TRACE_DIR), every helper here is a shared no-op and the middleware is not installed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, MutableMapping
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from flashsale.kit.settings import ServiceSettings
from flashsale.kit.span_recorder import SpanQueue, SpanRecorder
from flashsale.kit.trace_files import SpanFiles

OTLP_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
QUEUED_SPANS = 16384  # finished spans waiting to be written; more are dropped
# How often the span files' writer takes what is queued. Its thread holds the interpreter while it
# encodes a batch (~6 us a span), and the event loop waits for it in turns of 5 ms: a second's
# worth at once is ~1,000 spans under a crowd. Pay p99 at the demo's load (`python -m
# bench.demo_load --sales 2`, SQLite, 2026-12-07, eight sales each, alternating): written once a
# second 1.0-2.0 s (median 1.53), ten times a second 1.07-2.10 (median 1.26), the SDK's processor
# 1.05-1.62 (median 1.32): noisy, but the smaller batch is the one that did not fall behind. The
# house's CPU per checkout did not move (1.05, 1.01, 1.01 of once a second, paced side by side).
WRITE_EVERY_S = 0.1
_TRACEPARENT_LEN = 55  # "00-" 32 hex "-" 16 hex "-" 2 hex
_FORCED_IDS: ContextVar[tuple[int, int] | None] = ContextVar("flashsale_forced_ids", default=None)

_tracer: trace.Tracer | None = None
_sampler: Sampler | None = None  # decides a root span's sampling (a journey's root too)
_flush: Callable[[], object] | None = None  # writes out what is queued (shutdown_tracing)
_db_span_at_least_s = 0.005  # FLASHSALE_DB_SPAN_MS, set by configure_tracing

Attributes = Mapping[str, str | int | float | bool]
P = ParamSpec("P")
T = TypeVar("T")


# -- setup ---------------------------------------------------------------------------------


def tracing_wanted(settings: ServiceSettings) -> bool:
    """On unless switched off, and only with somewhere to send the spans."""
    if settings.tracing.strip().lower() in ("off", "false", "0", "no"):
        return False
    return bool(settings.trace_dir) or any(os.environ.get(var) for var in OTLP_ENDPOINT_VARS)


def configure_tracing(service: str, instance: str, settings: ServiceSettings) -> None:
    """Install this process's tracer (once; later calls keep the first): the SDK's, exporting to
    the OTLP endpoint when one is configured, else kit.span_recorder's, writing span files."""
    global _tracer, _sampler, _flush, _db_span_at_least_s
    if _tracer is not None or not tracing_wanted(settings):
        return
    _db_span_at_least_s = max(0.0, settings.db_span_ms / 1000)
    if any(os.environ.get(var) for var in OTLP_ENDPOINT_VARS):
        provider = _otlp_pipeline(service, instance)
        _tracer, _sampler = provider.get_tracer("flashsale"), provider.sampler
        _flush = functools.partial(provider.force_flush, timeout_millis=3000)
        return
    # The sampler OTEL_TRACES_SAMPLER names (always on by default), read as the SDK reads it for a
    # provider of its own: that provider is asked for nothing else.
    _sampler = TracerProvider(shutdown_on_exit=False).sampler
    files = SpanFiles(Path(settings.trace_dir), service, instance, max_bytes=settings.trace_file_mb << 20)
    queue = SpanQueue(files.write, max_spans=QUEUED_SPANS, every_s=WRITE_EVERY_S)
    _tracer, _flush = SpanRecorder(_sampler, _JourneyIds(), queue), queue.shutdown


def _otlp_pipeline(service: str, instance: str) -> TracerProvider:
    """The SDK's tracer provider, its spans batched to the OTLP endpoint in a thread of its own a
    batch a second (a full queue drops spans, never requests)."""
    # Imported here: protobuf costs startup time that a house writing files does not need.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({"service.name": service, "service.instance.id": instance})
    provider = TracerProvider(resource=resource, id_generator=_JourneyIds())
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(), max_queue_size=QUEUED_SPANS, schedule_delay_millis=1000, max_export_batch_size=2048))
    return provider


def shutdown_tracing() -> None:
    """Write out what is queued (a stopping service's last spans)."""
    if _flush is not None:
        _flush()


def active_tracer() -> trace.Tracer | None:
    """This process's tracer, or None when tracing is off."""
    return _tracer


# -- traceparent ---------------------------------------------------------------------------


def traceparent_of(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags) & 0xFF:02x}"


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, for an event written now (None: no span)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    return traceparent_of(context) if context.is_valid else None


def context_from_traceparent(value: str | None) -> Context | None:
    """The parent context a `traceparent` names, or None when absent or malformed."""
    if not value or len(value) != _TRACEPARENT_LEN or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    try:
        trace_id, span_id, flags = int(value[3:35], 16), int(value[36:52], 16), int(value[53:55], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 0x01))
    return trace.set_span_in_context(NonRecordingSpan(parent), Context())


# -- spans ---------------------------------------------------------------------------------


class _Scope:
    """Makes a span current until the block ends, then ends it (an error marks it failed)."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.token: Token[Context] | None = None

    def __enter__(self) -> Span:
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if self.token is not None:
            otel_context.detach(self.token)
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self.span.end()


_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


def span(
    name: str, attributes: Attributes | None = None, *, kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None, links: list[Link] | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span around the block, child of `parent` or of the active span."""
    if _tracer is None:
        return _NO_SPAN
    return _Scope(_tracer.start_span(name, context=parent, kind=kind, attributes=attributes, links=links))


class _IfSlow:
    """Times the block; only one that lasted `at_least_ns` becomes a span, recorded afterwards with
    the block's own start and end (nothing inside it can be its child)."""

    __slots__ = ("at_least_ns", "attributes", "name", "started_ns")

    def __init__(self, name: str, attributes: Attributes | None, at_least_ns: int) -> None:
        self.name, self.attributes, self.at_least_ns = name, attributes, at_least_ns
        self.started_ns = 0

    def __enter__(self) -> None:
        self.started_ns = time.time_ns()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        ended_ns = time.time_ns()
        if _tracer is None or (ended_ns - self.started_ns < self.at_least_ns and error is None):
            return
        slow = _tracer.start_span(self.name, attributes=self.attributes, start_time=self.started_ns)
        if error is not None:
            slow.set_status(Status(StatusCode.ERROR, type(error).__name__))
        slow.end(end_time=ended_ns)


def child_span_if_slow(
    name: str, attributes: Attributes | None = None, *, at_least_s: float,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span only inside a span still running (units of work worth seeing within a request or an
    event, not as traces of their own: the relay's polls are not), and only for a block that took
    `at_least_s` or failed: for work done many times per request (transactions, reads), worth a
    span of its own when it is what made the request slow. A quick block costs two clock reads
    instead of a span. With `at_least_s` 0 every block is a span as it runs, and what it does (an
    event it writes) is its child."""
    if _tracer is None or not trace.get_current_span().is_recording():
        return _NO_SPAN
    if at_least_s <= 0:
        return _Scope(_tracer.start_span(name, attributes=attributes))
    return _IfSlow(name, attributes, int(at_least_s * 1e9))


def db_span(name: str, attributes: Attributes | None = None) -> contextlib.AbstractContextManager[Span | None]:
    """A database transaction's or read's span: `child_span_if_slow` at FLASHSALE_DB_SPAN_MS."""
    return child_span_if_slow(name, attributes, at_least_s=_db_span_at_least_s)


def mark_failed(error: BaseException) -> None:
    """Mark the active span failed with `error` (one that is handled, not raised through it)."""
    if _tracer is not None:
        trace.get_current_span().set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200]))


# -- journeys ------------------------------------------------------------------------------


def journey_ids(key: str) -> tuple[int, int]:
    """The trace id and root span id of `key`'s journey: the same in every process, forever."""
    digest = hashlib.blake2b(key.encode(), digest_size=24, person=b"flashsale-trace").digest()
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:], "big") or 1


class _JourneyIds(RandomIdGenerator):
    """Random ids, except for a journey's root, whose ids `journey` chooses."""

    def generate_trace_id(self) -> int:
        forced = _FORCED_IDS.get()
        return forced[0] if forced else super().generate_trace_id()

    def generate_span_id(self) -> int:
        forced = _FORCED_IDS.get()
        return forced[1] if forced else super().generate_span_id()

    def is_trace_id_random(self) -> bool:
        return _FORCED_IDS.get() is None


def _link_to_current() -> list[Link]:
    current = trace.get_current_span().get_span_context()
    return [Link(current)] if current.is_valid else []


@contextlib.contextmanager
def journey(key: str, name: str, attributes: Attributes | None = None) -> Iterator[None]:
    """Start `key`'s journey: the block is the root span of its trace (linked to the request
    that began it). Log lines inside carry `correlation_id=key`."""
    with structlog.contextvars.bound_contextvars(correlation_id=key):
        if _tracer is None:
            yield
            return
        links = _link_to_current()
        token = _FORCED_IDS.set(journey_ids(key))
        try:
            root = _tracer.start_span(name, context=Context(), attributes=attributes, links=links)
        finally:
            _FORCED_IDS.reset(token)
        with _Scope(root):
            yield


@contextlib.contextmanager
def in_journey(key: str, name: str, attributes: Attributes | None = None) -> Iterator[None]:
    """A span of `key`'s journey around the block: a child of the active span when that is
    already in the journey, else of the journey's root (linking the active span)."""
    with structlog.contextvars.bound_contextvars(correlation_id=key):
        if _tracer is None or _sampler is None:
            yield
            return
        trace_id, root_id = journey_ids(key)
        if trace.get_current_span().get_span_context().trace_id == trace_id:
            parent, links = None, []
        else:
            parent, links = _journey_root(trace_id, root_id, name), _link_to_current()
        with _Scope(_tracer.start_span(name, context=parent, attributes=attributes, links=links)):
            yield


def journey_span(
    name: str, *, key: str, attribute: str,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Decorate an async function: each call runs `in_journey` of the journey its argument `key`
    names, and the span carries that value as `attribute` (e.g. `order.id`)."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        position = list(inspect.signature(function).parameters).index(key)

        @functools.wraps(function)
        async def traced(*args: P.args, **kwargs: P.kwargs) -> T:
            value = str(kwargs[key] if key in kwargs else args[position])
            with in_journey(value, name, {attribute: value}):
                return await function(*args, **kwargs)

        return traced

    return decorate


def _journey_root(trace_id: int, root_id: int, name: str) -> Context:
    assert _sampler is not None
    # The root's sampling decision, taken again: a ratio sampler decides by trace id, so every
    # process keeps or drops the same journeys.
    decision = _sampler.should_sample(Context(), trace_id, name).decision
    flags = TraceFlags(TraceFlags.SAMPLED if decision == Decision.RECORD_AND_SAMPLE else TraceFlags.DEFAULT)
    root = SpanContext(trace_id, root_id, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(root), Context())


def log_trace_ids(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the active span's trace and span ids on every log line."""
    if _tracer is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = f"{context.trace_id:032x}"
            event["span_id"] = f"{context.span_id:016x}"
    return event
