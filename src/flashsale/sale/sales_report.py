"""`flashsale report` and the demo's reporting summary: the reporting service's figures, read over
HTTP and shown as rich tables (or as the service's own JSON)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import get_args

import httpx
from rich.console import Console
from rich.table import Table

from flashsale.contracts.reports import Bucket, ProductSales, SalesReport
from flashsale.runtime.services_file import ServicesFile, ServicesFileError, load_services

BUCKETS: tuple[str, ...] = get_args(Bucket)
TIMEOUT_S = 10.0


class ReportUnavailable(Exception):
    """The reporting service could not be asked, or refused the question."""


def report(services_path: Path, product: str | None, bucket: str, as_json: bool) -> int:
    """The command: 0 when the report was printed, 1 when it could not be had, 2 for a bad bucket."""
    console = Console()
    if bucket not in BUCKETS:
        console.print(f"[red]--bucket must be one of {', '.join(BUCKETS)}[/]")
        return 2
    try:
        answer = fetch_sales(load_services(services_path), product, bucket)
    except (ServicesFileError, ReportUnavailable) as error:
        console.print(f"[red]{error}[/]")
        return 1
    if as_json:  # for scripts: the answer as it came, never wrapped to the terminal's width
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
        return 0
    sales = SalesReport.model_validate(answer)
    if product is None:
        print_sales(console, sales)
        return 0
    if not sales.products:
        console.print(f"no event has named {product} (yet)")
    for found in sales.products:
        print_product(console, found)
        print_series(console, found, sales.bucket)
    return 0


def fetch_sales(services: ServicesFile, product: str | None, bucket: str) -> dict[str, object]:
    """GET /reports/sales of the house's reporting service: its JSON answer."""
    params = {"bucket": bucket, **({"productId": product} if product else {})}
    try:
        answer = httpx.get(f"{services.url('reporting')}/reports/sales", params=params, timeout=TIMEOUT_S)
    except httpx.HTTPError as error:
        raise ReportUnavailable(f"the reporting service does not answer: {error}") from error
    if answer.status_code != 200:
        detail = answer.json().get("detail", answer.text) if _is_json(answer) else answer.text
        raise ReportUnavailable(f"the reporting service answered {answer.status_code}: {detail}")
    body: dict[str, object] = answer.json()
    return body


def _is_json(answer: httpx.Response) -> bool:
    return "json" in answer.headers.get("content-type", "")


def print_sales(console: Console, sales: SalesReport) -> None:
    """One row per product (the cancellations' reasons are in each product's own table)."""
    table = Table(title=f"Sales by product ({len(sales.products)})",
                  caption="units: held = holds granted, sold = deductions; conversion = sold / held; "
                          "sell-through = sold / received; orders: created / paid / completed / cancelled")
    table.add_column("product", no_wrap=True)
    for column in ("received", "held", "sold", "released", "expired", "revoked", "conversion", "sell-through",
                   "orders", "captured", "refunded"):
        table.add_column(column, justify="right")
    for p in sales.products:
        o = p.orders
        table.add_row(
            p.product_id, str(p.received), str(p.held), str(p.sold), str(p.released), str(p.expired),
            str(p.revoked), _percent(p.conversion), _percent(p.sell_through),
            f"{o.created} / {o.paid} / {o.completed} / {o.cancelled}",
            _money(p.money.captured_cents), _money(p.money.refunded_cents),
        )
    console.print(table)


def print_product(console: Console, sales: ProductSales) -> None:
    """One product's figures, one per line (fits a narrow terminal)."""
    table = Table(title=f"Sales of {sales.product_id}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    o, money = sales.orders, sales.money
    for label, value in [
        ("units received", str(sales.received)), ("units held (holds granted)", str(sales.held)),
        ("units sold (deductions)", str(sales.sold)),
        ("units released / expired / revoked", f"{sales.released} / {sales.expired} / {sales.revoked}"),
        ("conversion (sold / held)", _percent(sales.conversion)),
        ("sell-through (sold / received)", _percent(sales.sell_through)),
        ("orders created / paid / completed", f"{o.created} / {o.paid} / {o.completed}"),
        ("orders cancelled", _reasons(o.cancelled, o.cancelled_by_reason)),
        ("captured / refunded", f"{_money(money.captured_cents)} / {_money(money.refunded_cents)}"),
    ]:
        table.add_row(label, value)
    console.print(table)


def print_series(console: Console, sales: ProductSales, bucket: str) -> None:
    table = Table(title=f"{sales.product_id}: units per {bucket}")
    table.add_column("from", no_wrap=True)
    for column in ("received", "held", "sold", "sold so far", "sell-through"):
        table.add_column(column, justify="right")
    for point in sales.series:
        table.add_row(point.bucket_start, str(point.received), str(point.held), str(point.sold),
                      str(point.sold_so_far), _percent(point.sell_through))
    console.print(table)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _money(cents: int) -> str:
    return f"{cents / 100:,.2f}"


def _reasons(total: int, by_reason: dict[str, int]) -> str:
    if not total:
        return "0"
    return f"{total}: " + ", ".join(f"{reason} {count}" for reason, count in sorted(by_reason.items()))


# -- the demo's summary ---------------------------------------------------------------------------

async def print_sale_summary(console: Console, services: ServicesFile, product: str, orders: int, ended: int,
                             timeout_s: float = 30.0) -> None:
    """The reporting service's view of the sale just played, once it shows all `orders` of it
    created, the `ended` ones (completed or cancelled when the sale settled; an abandoned hold of
    `flashsale sale` may outlive the command) ended, and two reads in a row agree. It is a
    projection that follows the events: when it has not caught up within `timeout_s`, say so and
    show what it has. A house without reporting prints nothing."""
    if "reporting" not in services.instances:
        return
    deadline = time.monotonic() + timeout_s
    seen: ProductSales | None = None
    before: ProductSales | None = None
    while time.monotonic() < deadline:
        try:
            answer = await asyncio.to_thread(fetch_sales, services, product, "10s")
        except ReportUnavailable as error:
            console.print(f"reporting: unavailable ({error})")
            return
        found = SalesReport.model_validate(answer).products
        before, seen = seen, (found[0] if found else None)
        if seen is not None and seen == before and _settled(seen, orders, ended):
            break
        await asyncio.sleep(0.25)
    else:
        console.print("reporting: still catching up with the events; what it has so far:")
    if seen is not None:
        print_product(console, seen)


def _settled(sales: ProductSales, orders: int, ended: int) -> bool:
    """Every order is there and every one that ended has its outcome (one completed, then revoked
    and cancelled, counts in both)."""
    o = sales.orders
    return o.created == orders and o.completed + o.cancelled >= ended
