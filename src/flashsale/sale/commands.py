"""`flashsale demo`, `flashsale sale` and `flashsale check`: the load generator's entry points."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flashsale.runtime.config import find_free_port_base
from flashsale.runtime.pages import page_urls
from flashsale.runtime.services_file import ServicesFile, load_services
from flashsale.sale.apology import Epilogue, drop_a_sold_unit
from flashsale.sale.audit import AuditReport
from flashsale.sale.buyers import BuyPath, GatewayPath, OrderServicePath, sign_in_buyers
from flashsale.sale.client import HouseClient
from flashsale.sale.load import SalePlan, SaleResult, run_sale
from flashsale.sale.readmodels import compare_read_models, drift_found, print_read_models
from flashsale.sale.reconcile import print_reconcile, reconcile_house
from flashsale.sale.report import print_audit, print_consistency_windows, print_sale_report, print_timeline
from flashsale.sale.sales_report import print_sale_summary
from flashsale.sale.settle import audit_until_consistent, time_to_consistency, wait_until_quiet, wait_until_settled
from flashsale.sale.stats import histogram_percentile
from flashsale.sale.story import replay_last_ps5
from flashsale.sale.windows import consistency_windows

DEMO_HOLD_TTL_S = 20  # short, so abandoned holds expire while the demo watches; long enough to pay
# The demo's load generator stands where a load balancer would in front of the gateway: the house
# trusts it to name each buyer's own address (X-Forwarded-For), so per-address limits see 2,000
# buyers, not one machine.
DEMO_ENV = {"FLASHSALE_TRUSTED_PROXIES": "127.0.0.1"}
QUIET_TIMEOUT_S = 120  # a house that never goes quiet still gets its sale, this much later


@contextlib.contextmanager
def running_house(
    data_dir: Path, orders_instances: int, hold_ttl: int, console: Console, env: Mapping[str, str] | None = None,
    *, database: str = "", broker: str = "", bind: str = "127.0.0.1",
) -> Iterator[ServicesFile]:
    """`flashsale up` as a child process, until the block ends (then SIGTERM, as an operator would).
    `env` adds FLASHSALE_* settings for every service (tests tune timings with it); `database` and
    `broker` are up's --database and --broker (empty: SQLite files and a broker of its own), `bind`
    its --bind."""
    command = [sys.executable, "-m", "flashsale.cli", "up", "--data-dir", str(data_dir),
               "--port-base", str(find_free_port_base(orders_instances)), "--orders-instances", str(orders_instances),
               "--hold-ttl", str(hold_ttl), "--database", database, "--broker", broker, "--bind", bind]
    log = data_dir / "up.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        up = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        yield _wait_for_services(data_dir / "services.json", up, log, console)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            up.kill()


def _wait_for_services(path: Path, up: subprocess.Popen[bytes], log: Path, console: Console) -> ServicesFile:
    deadline = time.monotonic() + 120
    with console.status("starting the services (flashsale up)…"):
        while not path.exists():
            if up.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flashsale up failed:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
    return load_services(path)


def _progress(console: Console, what: str) -> Progress:
    return Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


async def _buy_path(client: HouseClient, plan: SalePlan, via: str, console: Console) -> tuple[BuyPath, str]:
    """The buyers' way in, and how it went to say in the report. Through the gateway they sign up
    and in before the sale opens, as a drop's buyers do."""
    if via == "orders":
        direct = OrderServicePath(client)
        return direct, direct.name
    with _progress(console, "buyers signing up and in") as progress:
        task = progress.add_task("sign-in", total=plan.buyers * 2)
        signed_in = await sign_in_buyers(client, plan.buyers, lambda: progress.advance(task))
    with console.status("waiting for the house to take in the sign-ups before the sale opens…"):
        quiet_after = await wait_until_quiet(client.services, QUIET_TIMEOUT_S)
    gateway = GatewayPath(client, signed_in)
    return gateway, (
        f"{gateway.name} ({signed_in.sign_ups_per_s:,.1f} sign-ups/s, {signed_in.sign_ins_per_s:,.1f} "
        f"sign-ins/s; the house quiet {quiet_after:,.0f} s later, then the sale opened)")


async def _play(client: HouseClient, plan: SalePlan, via: str, console: Console) -> SaleResult:
    path, described = await _buy_path(client, plan, via, console)
    stocked = await client.receive(plan.product_id, plan.stock, name=plan.name, price_cents=plan.price_cents)
    if stocked.status != 200:
        raise RuntimeError(f"could not put {plan.product_id} on sale: {stocked.status} {stocked.body}")
    with _progress(console, "buyers") as progress:
        task = progress.add_task("sale", total=plan.buyers)
        result = await run_sale(path, plan, lambda: progress.advance(task))
    result.epilogue.insert(0, ("buy path", described))
    return result


async def _sale_and_report(client: HouseClient, plan: SalePlan, console: Console, *, via: str, settle_pending: bool,
                           settle_timeout_s: float, epilogue: Epilogue | None = None) -> AuditReport:
    result = await _play(client, plan, via, console)
    with console.status("waiting for the house to go quiet…"):
        settled = await wait_until_settled(client, result.order_ids, include_pending=settle_pending,
                                           timeout_s=settle_timeout_s)
    if epilogue is not None:
        result.epilogue.extend(await epilogue(client, plan, result, console))
    with console.status("auditing…"):
        settled = await wait_until_settled(client, result.order_ids, include_pending=settle_pending,
                                           timeout_s=settle_timeout_s)
        audit = await audit_until_consistent(client, timeout_s=30)
        consistency = await time_to_consistency(client, result.order_ids)
        metrics = await client.inventory_metrics()
    labels = {"route": "/inventory/reserve", "method": "POST"}
    p50 = histogram_percentile(metrics, "http_request_duration_seconds", labels, 50)
    p99 = histogram_percentile(metrics, "http_request_duration_seconds", labels, 99)
    print_sale_report(console, result, settled, audit, consistency, p50, p99)
    print_consistency_windows(console, await consistency_windows(client.services))
    ended = sum(count for status, count in settled.items() if status.split("/")[0] in ("COMPLETED", "CANCELLED"))
    await print_sale_summary(console, client.services, plan.product_id, len(result.order_ids), ended)
    if result.unexpected:
        audit.violations.append(f"{len(result.unexpected)} unexpected answers during the sale")
    return audit


async def _demo(services: ServicesFile, buyers: int, stock: int, via: str, console: Console) -> bool:
    client = HouseClient(services)
    try:
        timeline, story_ok = await replay_last_ps5(client)
        print_timeline(console, timeline)
        plan = SalePlan(product_id=f"PS5-SALE-{uuid.uuid4().hex[:6]}", buyers=buyers, stock=stock)
        console.print(f"\n[bold]Flash sale:[/] {buyers} buyers, {stock} units, "
                      f"{client.orders_instances} order-service instances")
        audit = await _sale_and_report(client, plan, console, via=via, settle_pending=True,
                                       settle_timeout_s=DEMO_HOLD_TTL_S + 60, epilogue=drop_a_sold_unit)
        return story_ok and audit.ok
    finally:
        await client.close()


def demo(buyers: int, stock: int, orders_instances: int, *, dashboard: bool = False, via: str = "gateway") -> int:
    """The exit code reflects the audit; with `dashboard` the house stays up after it (its pages
    printed before the sale, to watch it, and again after) until Ctrl-C."""
    console = Console()
    with tempfile.TemporaryDirectory(prefix="flashsale-demo-") as tmp, \
            running_house(Path(tmp), orders_instances, DEMO_HOLD_TTL_S, console, DEMO_ENV) as services:
        if dashboard:
            _print_pages(console, services)
        ok = asyncio.run(_demo(services, buyers, stock, via, console))
        if dashboard:
            _stay_up(console, services)
    return 0 if ok else 1


def _print_pages(console: Console, services: ServicesFile) -> None:
    for page, url in page_urls(services).items():
        console.print(f"{page:<11}{url}", highlight=False)


def _stay_up(console: Console, services: ServicesFile) -> None:
    """Keep the house up until Ctrl-C (or SIGTERM), then let `running_house` stop it."""
    console.print("\n[bold]The house stays up[/] after the sale; Ctrl-C stops it.")
    _print_pages(console, services)
    stopped = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stopped.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped.wait(0.5):  # short waits: the signal handler runs between them
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def sale(services_path: Path, buyers: int, stock: int, product: str | None, *, via: str = "gateway") -> int:
    console = Console()
    services = load_services(services_path)
    plan = SalePlan(product_id=product or f"SALE-{uuid.uuid4().hex[:6]}", buyers=buyers, stock=stock)

    async def run() -> bool:
        client = HouseClient(services)
        try:
            return (await _sale_and_report(client, plan, console, via=via, settle_pending=False,
                                           settle_timeout_s=60)).ok
        finally:
            await client.close()

    return 0 if asyncio.run(run()) else 1


def check(services_path: Path, wait_s: float) -> int:
    console = Console()
    services = load_services(services_path)

    async def run() -> AuditReport:
        client = HouseClient(services)
        try:
            return await audit_until_consistent(client, timeout_s=wait_s)
        finally:
            await client.close()

    report = asyncio.run(run())
    print_audit(console, report)
    models = asyncio.run(compare_read_models(services))
    print_read_models(console, models)
    return 0 if report.ok and not drift_found(models) else 1


def reconcile(services_path: Path) -> int:
    console = Console()
    outcomes = asyncio.run(reconcile_house(load_services(services_path)))
    print_reconcile(console, outcomes)
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(demo(int(os.environ.get("BUYERS", "2000")), 100, 2))
