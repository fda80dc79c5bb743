"""A block worth a span only when slow (kit/tracing.py `child_span_if_slow`, what a database
transaction or read is): quick ones cost no span, slow or failed ones are a child of the span they
ran in, with their own times; at 0 (FLASHSALE_DB_SPAN_MS=0) every one is a span as it runs.

Each test runs with both tracers a process may have: the SDK's (an OTLP endpoint configured) and
kit.span_recorder's (span files)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanContext, StatusCode

from flashsale.kit import tracing
from flashsale.kit.span_recorder import RecordedSpan, SpanQueue, SpanRecorder


class Finished(Protocol):
    def get_finished_spans(self) -> Sequence[ReadableSpan | RecordedSpan]: ...


class Written:
    """What a SpanRecorder's queue wrote out, as the test asks for it."""

    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []
        self.queue = SpanQueue(self.spans.extend, max_spans=100, every_s=3600)

    def get_finished_spans(self) -> Sequence[RecordedSpan]:
        self.queue.flush()
        return tuple(self.spans)


@pytest.fixture(params=["sdk", "span_recorder"])
def finished(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Finished]:
    """This test's own tracer in place of the process's (none in unit tests), spans kept in memory."""
    if request.param == "span_recorder":
        written = Written()
        monkeypatch.setattr(tracing, "_tracer", SpanRecorder(ALWAYS_ON, RandomIdGenerator(), written.queue))
        yield written
        written.queue.shutdown()
        return
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def _named(finished: Finished) -> dict[str, ReadableSpan | RecordedSpan]:
    return {span.name: span for span in finished.get_finished_spans()}


def _context(span: ReadableSpan | RecordedSpan) -> SpanContext:
    context = span.get_span_context()
    assert context is not None
    return context


def test_a_quick_block_makes_no_span_and_a_slow_one_a_child_with_its_own_times(
    finished: Finished,
) -> None:
    with tracing.span("request"):
        with tracing.child_span_if_slow("quick read", at_least_s=3600):
            pass
        with tracing.child_span_if_slow("slow read", {"db.system.name": "postgresql"}, at_least_s=0):
            pass

    spans = _named(finished)
    assert set(spans) == {"request", "slow read"}
    request, slow = spans["request"], spans["slow read"]
    assert slow.parent is not None and slow.parent.span_id == _context(request).span_id
    assert _context(slow).trace_id == _context(request).trace_id
    times = (request.start_time, slow.start_time, slow.end_time, request.end_time)
    assert None not in times and list(times) == sorted(times)  # type: ignore[type-var]
    assert slow.attributes == {"db.system.name": "postgresql"}


def test_a_block_that_fails_is_a_span_however_quick_and_the_error_goes_on(finished: Finished) -> None:
    with pytest.raises(LookupError), tracing.span("request"), tracing.child_span_if_slow("read", at_least_s=3600):
        raise LookupError("the read failed")

    failed = _named(finished)["read"]
    assert failed.status.status_code is StatusCode.ERROR


def test_outside_a_recorded_span_nothing_is_recorded(finished: Finished) -> None:
    with tracing.child_span_if_slow("read of a background loop", at_least_s=0):
        pass

    assert finished.get_finished_spans() == ()


def test_at_zero_every_block_is_a_span_as_it_runs_and_what_it_does_is_its_child(
    finished: Finished,
) -> None:
    with tracing.span("request"), tracing.child_span_if_slow("transaction", at_least_s=0), tracing.span("publish"):
        pass

    spans = _named(finished)
    transaction, publish = spans["transaction"], spans["publish"]
    assert transaction.parent is not None and transaction.parent.span_id == _context(spans["request"]).span_id
    assert publish.parent is not None and publish.parent.span_id == _context(transaction).span_id


def test_a_database_span_follows_the_processes_setting(
    finished: Finished, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "_db_span_at_least_s", 3600.0)
    with tracing.span("request"), tracing.db_span("db.transaction"):
        pass
    monkeypatch.setattr(tracing, "_db_span_at_least_s", 0.0)
    with tracing.span("request"), tracing.db_span("db.read"):
        pass

    assert sorted(span.name for span in finished.get_finished_spans()) == ["db.read", "request", "request"]
