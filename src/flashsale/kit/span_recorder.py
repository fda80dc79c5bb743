"""Spans for the house's own span files, recorded without the OpenTelemetry SDK's per-span work.

Written here, by measurement. A checkout through the gateway makes ~50 spans across the house.
The SDK spends ~30-37 us of CPU on a span started and ended in a tight loop (each attribute
validated into a lock-guarded BoundedAttributes, the sampler asked for every child, a ReadableSpan
copied at the end and handed through its processors); this recorder 9-13 us, 12-19 with writing
it out. Our span files (trace_files.py) need a name, ids, times, a status, attributes and links:
a span here is a slotted object, kept as it is, written out by a thread of its own. The house's
CPU per checkout through the gateway, this recorder against the SDK, two houses at once, checkouts
paced at 5/s in each (`python -m bench.side_by_side --base <SDK> --paced 5`, 2026-12-07): 0.94,
0.93, 0.94. With an OTLP endpoint the SDK's own pipeline is used (tracing.py): another system
takes the SDK's spans.

What is kept of the SDK's behaviour:
- the OpenTelemetry API is the interface: a `SpanRecorder` is an API `Tracer` and its spans API
  `Span`s, made current with the API's context, so `trace.get_current_span`, `Link`, `Status` and
  `NonRecordingSpan` work with them as before;
- sampling as the SDK's default does it (parent-based): a span with a parent is recorded when its
  parent was sampled, a root as the sampler given (OTEL_TRACES_SAMPLER, always on by default) says;
- finished spans wait in a bounded queue that a thread of its own writes out (tracing.py says how
  often): a request pays for building its span, not for its I/O, and a full queue drops spans,
  never requests.
Span events (`add_event`, `record_exception`) are not kept: the span files have no place for them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

if TYPE_CHECKING:  # the API's own type for what start_as_current_span returns (trace.use_span's)
    from opentelemetry.util._decorator import _AgnosticContextManager

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_UNSET = Status(StatusCode.UNSET)


class RecordedSpan(trace.Span):
    """A span being recorded; once ended, what a line of a span file is made of (its fields are
    named as the SDK's ReadableSpan's, which trace_files.span_record also reads)."""

    __slots__ = ("_ended", "_span_context", "attributes", "end_time", "kind", "links", "name", "parent",
                 "start_time", "status")

    def __init__(
        self, name: str, context: SpanContext, parent: SpanContext | None, kind: SpanKind,
        attributes: dict[str, Any], links: list[Link], start_time: int, ended: Callable[[RecordedSpan], None],
    ) -> None:
        self.name = name
        self._span_context = context
        self.parent = parent
        self.kind = kind
        self.attributes = attributes
        self.links = links
        self.start_time = start_time
        self.end_time: int | None = None
        self.status = _UNSET
        self._ended = ended

    def get_span_context(self) -> SpanContext:
        return self._span_context

    def is_recording(self) -> bool:
        return self.end_time is None

    # Once ended, a span is the writer's to read: changes after that are ignored, as the SDK does.

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self.end_time is None:
            self.attributes[key] = value

    def set_attributes(self, attributes: types.Attributes) -> None:
        if self.end_time is None:
            self.attributes.update(attributes or {})

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is None:
            self.status = status if isinstance(status, Status) else Status(status, description)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        """Not kept (the module docstring says why)."""

    def record_exception(
        self, exception: BaseException, attributes: types.Attributes = None, timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Not kept as an event; a failure is the span's status (tracing.py sets it)."""

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return  # ended twice: written once
        self.end_time = time.time_ns() if end_time is None else end_time
        self._ended(self)


class SpanQueue:
    """Finished spans, handed to `write` by a thread of its own every `every_s`, a batch at a time."""

    def __init__(self, write: Callable[[Sequence[RecordedSpan]], object], *, max_spans: int, every_s: float) -> None:
        self._write = write
        self._max_spans = max_spans
        self._every_s = every_s
        self._spans: deque[RecordedSpan] = deque()  # appended on the event loop, taken by the writer
        self._writing = threading.Lock()  # the writer's round and a flush never write at once
        self._stop = threading.Event()
        self.dropped = 0
        self._writer = threading.Thread(target=self._run, name="span-writer", daemon=True)
        self._writer.start()

    def put(self, span: RecordedSpan) -> None:
        if len(self._spans) >= self._max_spans:
            self.dropped += 1
            return
        self._spans.append(span)

    def flush(self) -> None:
        """Write out every span queued so far."""
        with self._writing:
            batch = [self._spans.popleft() for _ in range(len(self._spans))]
            if batch:
                self._write(batch)

    def shutdown(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        self._writer.join(timeout_s)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.flush()


class SpanRecorder(trace.Tracer):
    """An API tracer whose sampled spans are `RecordedSpan`s, queued on `queue` when they end."""

    def __init__(self, sampler: Sampler, ids: IdGenerator, queue: SpanQueue) -> None:
        self.sampler = sampler
        self._ids = ids
        self._queue = queue

    def start_span(
        self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None, links: Sequence[Link] | None = None, start_time: int | None = None,
        record_exception: bool = True, set_status_on_exception: bool = True,
    ) -> trace.Span:
        current = trace.get_current_span(context).get_span_context()
        parent = current if current.is_valid else None
        if parent is not None:  # parent-based: recorded when the parent was sampled
            trace_id, sampled = parent.trace_id, parent.trace_flags.sampled
        else:  # a root: as the sampler says
            trace_id = self._ids.generate_trace_id()
            decision = self.sampler.should_sample(context, trace_id, name, kind, attributes, links).decision
            sampled = decision is Decision.RECORD_AND_SAMPLE
        span_context = SpanContext(trace_id, self._ids.generate_span_id(), is_remote=False,
                                   trace_flags=_SAMPLED if sampled else _NOT_SAMPLED)
        if not sampled:
            return NonRecordingSpan(span_context)
        return RecordedSpan(name, span_context, parent, kind, dict(attributes) if attributes else {},
                            list(links) if links else [], time.time_ns() if start_time is None else start_time,
                            self._queue.put)

    def start_as_current_span(
        self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None, links: Sequence[Link] | None = None, start_time: int | None = None,
        record_exception: bool = True, set_status_on_exception: bool = True, end_on_exit: bool = True,
    ) -> _AgnosticContextManager[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        return trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                              set_status_on_exception=set_status_on_exception)
