"""`flashsale trace ORDER_ID`: one order's spans, from the files the services keep, as trees.

The services of a house write their spans under `DIR/traces` (kit/trace_files.py). The traces
shown are the order's journey (its trace id is derived from the order id, kit/tracing.py) and
any other trace with a span tagged `order.id == ORDER_ID`. Each prints as a tree: service, span,
start offset from the trace's first span, duration.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from flashsale.kit.trace_files import read_journeys, read_linked
from flashsale.kit.tracing import journey_ids

ORDER_ATTRIBUTE = "order.id"


@dataclass
class SpanNode:
    record: dict[str, Any]
    children: list[SpanNode] = field(default_factory=list)

    @property
    def start(self) -> int:
        return int(self.record.get("start") or 0)

    @property
    def duration_ms(self) -> float:
        return (int(self.record.get("end") or self.start) - self.start) / 1e6


@dataclass
class TraceTree:
    trace_id: str
    roots: list[SpanNode]
    spans: int
    services: list[str]
    started_ns: int
    linked: dict[str, dict[str, Any]] = field(default_factory=dict)  # spans of other traces, by span id


def order_traces(trace_dir: Path, order_id: str) -> list[TraceTree]:
    """The traces of `order_id`'s journey, its journey first, then by start time."""
    journey = f"{journey_ids(order_id)[0]:032x}"
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    found = read_journeys(trace_dir, ORDER_ATTRIBUTE, order_id, {journey})
    for record in found:
        by_trace[record["traceId"]].append(record)
    linked = read_linked(trace_dir, found)
    trees = [_tree(trace_id, records) for trace_id, records in by_trace.items()]
    for tree in trees:
        tree.linked = linked
    return sorted(trees, key=lambda t: (t.trace_id != journey, t.started_ns))


def _tree(trace_id: str, records: list[dict[str, Any]]) -> TraceTree:
    nodes = {r["spanId"]: SpanNode(r) for r in records}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.record.get("parentId") or "")
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.start)
    roots.sort(key=lambda n: n.start)
    services = sorted({str(r.get("service", "?")) for r in records})
    return TraceTree(trace_id, roots, len(records), services, min(n.start for n in nodes.values()))


def render(trees: list[TraceTree], order_id: str, console: Console) -> None:
    if not trees:
        console.print(f"no spans of order {escape(order_id)} found")
        return
    for trace in trees:
        label = (f"[bold]trace {trace.trace_id}[/] · order {escape(order_id)} · {trace.spans} spans · "
                 f"services: {', '.join(trace.services)}")
        tree = Tree(label)
        for root in trace.roots:
            _add(tree, root, trace.started_ns, trace.linked)
        console.print(tree)


def _add(parent: Tree, node: SpanNode, origin_ns: int, linked: dict[str, dict[str, Any]]) -> None:
    record = node.record
    failed = " [red]ERROR[/]" if record.get("status") == "ERROR" else ""
    label = (f"[cyan]{escape(str(record.get('service', '?')))}[/] {escape(str(record.get('name', '?')))}  "
             f"[dim]+{(node.start - origin_ns) / 1e6:.1f} ms[/]  {node.duration_ms:.1f} ms{failed}")
    branch = parent.add(label)
    for link in record.get("links", []):
        request = linked.get(link["spanId"])
        if request is not None:  # the request this step served (a trace of its own)
            status = request.get("attributes", {}).get("http.response.status_code", "")
            branch.add(f"[dim]↖ for {escape(str(request.get('service')))} {escape(str(request.get('name')))} "
                       f"{status} (trace {request['traceId'][:8]}…)[/]")
    for child in node.children:
        _add(branch, child, origin_ns, linked)
