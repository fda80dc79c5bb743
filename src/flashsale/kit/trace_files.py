"""Spans kept locally: JSON lines under FLASHSALE_TRACE_DIR, one file per service instance.

Without an OTLP endpoint, each process appends its finished spans to
`<dir>/<service>-<instance>.jsonl` (in kit.span_recorder's writer thread, a batch per write). A
file that passes its size bound is renamed to `.jsonl.1` (replacing the previous one) and a new
one begun, so an instance keeps at most twice the bound. `read_journeys` is what `flashsale trace`
reads them with.

One line per span:
`{"traceId", "spanId", "parentId", "name", "kind", "service", "instance", "start", "end"
(epoch ns), "status", "attributes", "links": [{"traceId", "spanId"}]}`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from flashsale.kit.span_recorder import RecordedSpan

SUFFIX = ".jsonl"


class SpanFiles(SpanExporter):
    def __init__(self, directory: Path, service: str, instance: str, *, max_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{service}-{instance}{SUFFIX}"
        self.service = service
        self.instance = instance
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # export and shutdown may come from different threads
        self._fd: int | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS if self.write(spans) else SpanExportResult.FAILURE

    def write(self, spans: Sequence[ReadableSpan | RecordedSpan]) -> bool:
        """Append `spans` (the SDK's, or kit.span_recorder's) as lines; False: the file failed."""
        lines = b"".join(orjson.dumps(span_record(s, self.service, self.instance)) + b"\n" for s in spans)
        try:
            with self._lock:
                os.write(self._file(len(lines)), lines)  # one write: lines of two processes never interleave
        except OSError:
            return False
        return True

    def _file(self, adding: int) -> int:
        if self._fd is not None and os.fstat(self._fd).st_size + adding > self.max_bytes:
            os.close(self._fd)
            self._fd = None
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def shutdown(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is written through


def span_record(span: ReadableSpan | RecordedSpan, service: str, instance: str) -> dict[str, Any]:
    context, parent = span.get_span_context(), span.parent
    assert context is not None
    return {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
        "parentId": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": service,
        "instance": instance,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "links": [{"traceId": f"{link.context.trace_id:032x}", "spanId": f"{link.context.span_id:016x}"}
                  for link in span.links],
    }


def span_files(directory: Path) -> list[Path]:
    """Every span file under `directory`, rotated ones included."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX) or p.name.endswith(SUFFIX + ".1"))


def _records_mentioning(directory: Path, needles: set[str]) -> Iterator[dict[str, Any]]:
    """Decoded lines that contain one of `needles` (a substring test first: most lines don't)."""
    wanted = [n.encode() for n in needles]
    for path in span_files(directory):
        with path.open("rb") as lines:
            for line in lines:
                if any(n in line for n in wanted):
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue  # a line cut short by a crash mid-write


def read_journeys(directory: Path, attribute: str, value: str, also_traces: set[str]) -> list[dict[str, Any]]:
    """Every span of every trace that has a span with `attribute == value`, or whose id is in
    `also_traces`."""
    traces = set(also_traces)
    for record in _records_mentioning(directory, {value}):
        if record.get("attributes", {}).get(attribute) == value:
            traces.add(record["traceId"])
    if not traces:
        return []
    return [r for r in _records_mentioning(directory, traces) if r.get("traceId") in traces]


def read_linked(directory: Path, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The spans of other traces that `records` link to (the requests that served a journey's
    steps), by span id."""
    own = {r["traceId"] for r in records}
    wanted = {link["spanId"] for r in records for link in r.get("links", []) if link["traceId"] not in own}
    if not wanted:
        return {}
    return {r["spanId"]: r for r in _records_mentioning(directory, wanted) if r.get("spanId") in wanted}
