"""Where spans begin and where the trace context crosses a process boundary.

- `RequestTracing`: a server span per HTTP request (pure ASGI, like RequestMetrics), named by
  route template once routing has chosen one, child of the caller's `traceparent` header.
- `outbound_call`: a client span per outbound HTTP attempt, whose `traceparent` the call sends.
- `publishing`: a producer span per event the relay publishes, child of the context the event
  was written under (its envelope's `traceparent`); the message carries the span's traceparent.
- `consuming`: a consumer span per delivery, child of the message's traceparent header, else of
  the envelope's; log lines inside carry the event's correlation id.

Each is a shared no-op when tracing is off (see tracing.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flashsale.kit import tracing
from flashsale.kit.envelope import Envelope

UNTRACED_PATHS = frozenset({"/health", "/metrics"})  # polled by supervisors and scrapers: noise
# Ids the whole house shares, copied from an event's data onto its consumer's span so that
# `flashsale trace ORDER_ID` finds the spans of every service that handled the order's events.
SHARED_KEYS = {"orderId": "order.id"}


class RequestTracing:
    """Pure ASGI middleware: one server span per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = tracing.active_tracer()
        if tracer is None or scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        span = tracer.start_span(method, context=_parent_of(scope), kind=SpanKind.SERVER,
                                 attributes={"http.request.method": method, "url.path": scope["path"]})
        status = [500]

        async def send_traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send_traced)
        finally:
            otel_context.detach(token)
            _finish(span, scope, method, status[0])


def _parent_of(scope: Scope) -> otel_context.Context | None:
    for name, value in scope["headers"]:
        if name == b"traceparent":
            return tracing.context_from_traceparent(value.decode("latin-1"))
    return None


def _finish(span: Span, scope: Scope, method: str, status: int) -> None:
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
    span.end()


class OutboundCall:
    """The client span of one outbound attempt (a no-op one when tracing is off)."""

    __slots__ = ("span",)

    def __init__(self, span: Span | None) -> None:
        self.span = span

    def headers(self, given: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """`given` plus the traceparent that makes the callee's span a child of ours."""
        if self.span is None:
            return given
        return {**(given or {}), "traceparent": tracing.traceparent_of(self.span.get_span_context())}

    def answered(self, status: int) -> None:
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", status)
            if status >= 500:
                self.span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))


_UNTRACED_CALL = OutboundCall(None)


@contextlib.contextmanager
def outbound_call(method: str, dependency: str, path: str) -> Iterator[OutboundCall]:
    if tracing.active_tracer() is None:
        yield _UNTRACED_CALL
        return
    attributes = {"http.request.method": method, "server.name": dependency, "url.path": path}
    with tracing.span(f"{method} {dependency}", attributes, kind=SpanKind.CLIENT) as span:
        yield OutboundCall(span)


@contextlib.contextmanager
def publishing(subjects: Sequence[str], envelopes: Sequence[str]) -> Iterator[list[str | None] | None]:
    """Producer spans for a relay batch: one per event written under a span (its JSON envelope
    names it); yields the traceparent header of each message (None: none), ended when published."""
    tracer = tracing.active_tracer()
    if tracer is None:
        yield None
        return
    spans: list[Span | None] = []
    for subject, envelope in zip(subjects, envelopes, strict=True):
        parent = tracing.context_from_traceparent(_traceparent_in(envelope))
        spans.append(None if parent is None else tracer.start_span(
            f"publish {subject}", context=parent, kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "nats", "messaging.destination.name": subject},
        ))
    failed: BaseException | None = None
    try:
        yield [None if s is None else tracing.traceparent_of(s.get_span_context()) for s in spans]
    except BaseException as error:
        failed = error
        raise
    finally:
        for s in spans:
            if s is not None:
                if failed is not None:
                    s.set_status(Status(StatusCode.ERROR, type(failed).__name__))
                s.end()


def _traceparent_in(envelope_json: str) -> str | None:
    """The `traceparent` member of an envelope as the outbox stores it (compact JSON, written by
    Envelope.to_bytes), found without decoding the whole envelope."""
    at = envelope_json.find('"traceparent":"')
    if at < 0:
        return None
    start = at + len('"traceparent":"')
    return envelope_json[start:start + 55]


@contextlib.contextmanager
def consuming(consumer: str, subject: str, envelope: Envelope, headers: Mapping[str, str] | None) -> Iterator[None]:
    """The consumer's span around handling one delivery of `envelope`."""
    with structlog.contextvars.bound_contextvars(correlation_id=envelope.correlationid or envelope.id,
                                                 event_id=envelope.id):
        if tracing.active_tracer() is None:
            yield
            return
        parent = tracing.context_from_traceparent((headers or {}).get("traceparent")) \
            or tracing.context_from_traceparent(envelope.traceparent)
        attributes: dict[str, str] = {
            "messaging.system": "nats", "messaging.destination.name": subject,
            "messaging.consumer.group.name": consumer, "messaging.message.id": envelope.id,
        }
        for key, attribute in SHARED_KEYS.items():
            value = envelope.data.get(key)
            if isinstance(value, str):
                attributes[attribute] = value
        with tracing.span(f"consume {envelope.type}", attributes, kind=SpanKind.CONSUMER, parent=parent):
            yield


@contextlib.contextmanager
def consuming_batch(
    consumer: str, envelopes: Sequence[Envelope], headers: Sequence[Mapping[str, str] | None],
) -> Iterator[None]:
    """One span for a batch handled at once, linking the context of every event in it (a span
    has one parent; a batch has many causes)."""
    if tracing.active_tracer() is None:
        yield
        return
    links = []
    for envelope, given in zip(envelopes, headers, strict=True):
        parent = tracing.context_from_traceparent((given or {}).get("traceparent") or envelope.traceparent)
        if parent is not None:
            links.append(Link(trace.get_current_span(parent).get_span_context()))
    attributes: dict[str, str | int] = {"messaging.system": "nats", "messaging.consumer.group.name": consumer,
                  "messaging.batch.message_count": len(envelopes)}
    with tracing.span(f"consume batch {consumer}", attributes, kind=SpanKind.CONSUMER, links=links):
        yield
