"""What the demo and `flashsale sale` print: the story's timeline and the sale's report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from flashsale.sale.audit import AuditReport
from flashsale.sale.load import SaleResult
from flashsale.sale.stats import percentile
from flashsale.sale.story import Moment
from flashsale.sale.windows import Window


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def print_timeline(console: Console, timeline: list[Moment]) -> None:
    table = Table(title="The last PS5: user A and user B, two order-service instances")
    for column in ("time", "what happens", "available", "reserved", "sold", "order", "note"):
        table.add_column(column)
    for m in timeline:
        table.add_row(m.label, m.action, str(m.available), str(m.reserved), str(m.sold), m.order_state, m.note)
    console.print(table)


def print_sale_report(
    console: Console, result: SaleResult, settled: dict[str, int], audit: AuditReport,
    consistency: list[float], reserve_p50: float | None, reserve_p99: float | None,
) -> None:
    table = Table(title="Flash sale report", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    o = result.outcomes
    for label, value in [
        ("orders created", o["created"]), ("refused (409 out_of_stock)", o["refused"]),
        ("paid", o["paid"]), ("declined (402)", o["declined"]),
        ("payment still in progress when the buyer stopped asking (409)", o["undecided"]),
        ("abandoned (hold left to expire)", o["abandoned"]),
        ("completed", settled.get("COMPLETED", 0)),
        ("cancelled", sum(v for k, v in settled.items() if k.startswith("CANCELLED"))),
        *((f"  cancelled: {k.split('/', 1)[1]}", v) for k, v in sorted(settled.items()) if k.startswith("CANCELLED/")),
        ("unexpected answers", len(result.unexpected)),
    ]:
        table.add_row(label, str(value))
    for label, text in result.epilogue:
        table.add_row(label, text)
    table.add_row("reserve latency p50 / p99 (server, bucket bound)", f"{_ms(reserve_p50)} / {_ms(reserve_p99)}")
    for label, samples in [("order latency", result.order_latency), ("pay latency", result.pay_latency),
                           ("time to consistency", consistency)]:
        table.add_row(f"{label} p50 / p99", f"{_ms(percentile(samples, 50))} / {_ms(percentile(samples, 99))}")
    console.print(table)
    for note in result.notes:
        console.print(note)
    for line in result.unexpected[:10]:
        console.print(f"[yellow]unexpected:[/] {line}")
    print_audit(console, audit)


def print_audit(console: Console, audit: AuditReport) -> None:
    console.print(f"audited: {audit.products} products, {audit.reservations} reservations, {audit.orders} orders")
    console.print(f"oversold: {audit.oversold}")
    if audit.ok:
        console.print("invariants: ok")
        return
    console.print("invariants: VIOLATED")
    for violation in audit.violations[:50]:
        console.print(f"  - {violation}")


def print_consistency_windows(console: Console, windows: list[Window]) -> None:
    """Per read model: how long after an event its copy showed it (p50 / p99, interpolated in
    the histogram's buckets)."""
    table = Table(title="Consistency windows (event time → applied, per consumer)")
    for column in ("read model", "consumer", "events", "p50", "p99"):
        table.add_column(column, justify="right" if column in ("events", "p50", "p99") else "left")
    for w in windows:
        table.add_row(w.read_model, w.consumer, str(w.events), _ms(w.p50_s), _ms(w.p99_s))
    console.print(table)
