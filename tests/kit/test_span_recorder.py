"""kit.span_recorder: the spans a house writes to its span files, without the SDK's per-span work.
What a line says is what the span was given; sampling follows the parent, as the SDK's default
does; a full queue drops spans, never holds up their callers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import Link, SpanKind, StatusCode

from flashsale.kit import tracing
from flashsale.kit.span_recorder import SpanQueue, SpanRecorder
from flashsale.kit.trace_files import SpanFiles, span_files

SAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


class House:
    """One process's recorder writing span files under a test's folder."""

    def __init__(self, directory: Path, sampler: Sampler = ALWAYS_ON, *, max_spans: int = 1000) -> None:
        self.directory = directory
        files = SpanFiles(directory, "orders", "orders-1", max_bytes=1 << 20)
        self.queue = SpanQueue(files.write, max_spans=max_spans, every_s=3600)
        self.recorder = SpanRecorder(sampler, tracing._JourneyIds(), self.queue)

    def lines(self) -> list[dict[str, Any]]:
        self.queue.flush()
        return [orjson.loads(line) for path in span_files(self.directory) for line in path.read_bytes().splitlines()]


@pytest.fixture
def house(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[House]:
    """The recorder as this process's tracer, as configure_tracing installs it for span files."""
    recording = House(tmp_path)
    monkeypatch.setattr(tracing, "_tracer", recording.recorder)
    monkeypatch.setattr(tracing, "_sampler", ALWAYS_ON)
    yield recording
    recording.queue.shutdown()


def test_a_line_holds_what_the_span_was_given_and_its_child_names_it(house: House) -> None:
    linked = tracing.context_from_traceparent(SAMPLED_PARENT)
    assert linked is not None
    link = Link(house.recorder.start_span("elsewhere", context=linked).get_span_context())
    with tracing.span("POST", {"http.request.method": "POST"}, kind=SpanKind.SERVER, links=[link]) as request:
        assert request is not None
        request.set_attribute("http.response.status_code", 503)
        request.update_name("POST /orders")
        request.set_status(StatusCode.ERROR, "HTTP 503")
        with tracing.span("saga.capture"):
            pass

    lines = {line["name"]: line for line in house.lines()}
    request_line, child = lines["POST /orders"], lines["saga.capture"]
    assert request_line["kind"] == "SERVER" and request_line["status"] == "ERROR"
    assert request_line["attributes"] == {"http.request.method": "POST", "http.response.status_code": 503}
    assert request_line["links"] == [{"traceId": SAMPLED_PARENT[3:35], "spanId": f"{link.context.span_id:016x}"}]
    assert (request_line["service"], request_line["instance"]) == ("orders", "orders-1")
    assert request_line["start"] <= child["start"] <= child["end"] <= request_line["end"]
    assert child["parentId"] == request_line["spanId"] and child["traceId"] == request_line["traceId"]
    assert request_line["parentId"] is None and child["status"] == "UNSET"


def test_a_journeys_root_has_the_ids_its_key_derives(house: House) -> None:
    with tracing.journey("order-1", "order.place"), tracing.span("saga.capture"):
        pass

    lines = {line["name"]: line for line in house.lines()}
    trace_id, root_id = tracing.journey_ids("order-1")
    assert lines["order.place"]["traceId"] == f"{trace_id:032x}" and lines["order.place"]["spanId"] == f"{root_id:016x}"
    assert lines["saga.capture"]["parentId"] == f"{root_id:016x}"


def test_a_child_is_recorded_as_its_parent_was_sampled(tmp_path: Path) -> None:
    house = House(tmp_path, ALWAYS_OFF)
    root = house.recorder.start_span("GET /orders/{orderId}")
    unsampled, sampled = (tracing.context_from_traceparent(parent) for parent in (UNSAMPLED_PARENT, SAMPLED_PARENT))
    dropped = house.recorder.start_span("consume OrderConfirmed", context=unsampled)
    kept = house.recorder.start_span("consume OrderCompleted", context=sampled)
    for span in (root, dropped, kept):
        span.end()

    assert not root.is_recording() and not dropped.is_recording()
    assert [(line["name"], line["parentId"]) for line in house.lines()] == [
        ("consume OrderCompleted", SAMPLED_PARENT[36:52])]
    house.queue.shutdown()


def test_a_full_queue_drops_spans_and_a_span_ended_is_written_once_as_it_ended(tmp_path: Path) -> None:
    house = House(tmp_path, max_spans=2)
    spans = [house.recorder.start_span(f"publish {n}") for n in range(3)]
    for span in spans:
        span.end()
    spans[0].end()
    spans[0].set_attribute("late", True)
    spans[0].set_status(StatusCode.ERROR)

    assert house.queue.dropped == 1
    lines = house.lines()
    assert [line["name"] for line in lines] == ["publish 0", "publish 1"]
    assert lines[0]["attributes"] == {} and lines[0]["status"] == "UNSET"
    house.queue.shutdown()


def test_what_is_queued_at_shutdown_is_written(tmp_path: Path) -> None:
    house = House(tmp_path)
    house.recorder.start_span("saga.shipment").end()
    house.queue.shutdown()

    assert [line["name"] for line in house.lines()] == ["saga.shipment"]
