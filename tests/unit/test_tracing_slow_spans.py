"""A block worth a span only when slow (kit/tracing.py `child_span_if_slow`, what a database
transaction or read is): quick ones cost no span, slow or failed ones are a child of the span they
ran in, with their own times; at 0 (FLASHSALE_DB_SPAN_MS=0) every one is a span as it runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from flashsale.kit import tracing


@pytest.fixture
def finished(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """This test's own tracer in place of the process's (none in unit tests), spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def _named(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_a_quick_block_makes_no_span_and_a_slow_one_a_child_with_its_own_times(
    finished: InMemorySpanExporter,
) -> None:
    with tracing.span("request"):
        with tracing.child_span_if_slow("quick read", at_least_s=3600):
            pass
        with tracing.child_span_if_slow("slow read", {"db.system.name": "postgresql"}, at_least_s=0):
            pass

    spans = _named(finished)
    assert set(spans) == {"request", "slow read"}
    request, slow = spans["request"], spans["slow read"]
    assert slow.parent is not None and slow.parent.span_id == request.context.span_id
    assert slow.context.trace_id == request.context.trace_id
    times = (request.start_time, slow.start_time, slow.end_time, request.end_time)
    assert None not in times and list(times) == sorted(times)  # type: ignore[type-var]
    assert slow.attributes == {"db.system.name": "postgresql"}


def test_a_block_that_fails_is_a_span_however_quick_and_the_error_goes_on(finished: InMemorySpanExporter) -> None:
    with pytest.raises(LookupError), tracing.span("request"), tracing.child_span_if_slow("read", at_least_s=3600):
        raise LookupError("the read failed")

    failed = _named(finished)["read"]
    assert failed.status.status_code is StatusCode.ERROR


def test_outside_a_recorded_span_nothing_is_recorded(finished: InMemorySpanExporter) -> None:
    with tracing.child_span_if_slow("read of a background loop", at_least_s=0):
        pass

    assert finished.get_finished_spans() == ()


def test_at_zero_every_block_is_a_span_as_it_runs_and_what_it_does_is_its_child(
    finished: InMemorySpanExporter,
) -> None:
    with tracing.span("request"), tracing.child_span_if_slow("transaction", at_least_s=0), tracing.span("publish"):
        pass

    spans = _named(finished)
    transaction, publish = spans["transaction"], spans["publish"]
    assert transaction.parent is not None and transaction.parent.span_id == spans["request"].context.span_id
    assert publish.parent is not None and publish.parent.span_id == transaction.context.span_id


def test_a_database_span_follows_the_processes_setting(
    finished: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "_db_span_at_least_s", 3600.0)
    with tracing.span("request"), tracing.db_span("db.transaction"):
        pass
    monkeypatch.setattr(tracing, "_db_span_at_least_s", 0.0)
    with tracing.span("request"), tracing.db_span("db.read"):
        pass

    assert sorted(span.name for span in finished.get_finished_spans()) == ["db.read", "request", "request"]
