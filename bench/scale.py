"""Does a hold slow down as the catalogue and the history grow? Hold p50/p99 on one hot product
with 10 and with 1,000,000 products in the stock table, and with 0 and 1,000,000 past holds.

    python -m bench.scale [--quick] [--backends sqlite,postgresql] [--clients 16] [--duration 3]
                          [--rows 1000000] [--no-explain]

Target (the hot-product issue): hold p50 grows at most 1.2x from 10 to 1,000,000 products and
from 0 to 1,000,000 past holds. Per database backend (SQLite always, PostgreSQL when reachable)
two real inventory processes are measured in turn, each on a database of its own:

- "catalogue": the hot product and 9 others (a), then 999,990 more products (b);
- "history": the hot product and 9 others with 1,000,000 past holds on them, CONFIRMED, RELEASED
  and EXPIRED in turn, each with its item (d).

(c) is (a) again, measured in the history's own process before its rows go in, so each ratio
changes one thing only, in one process: (b)/(a) the products, (d)/(c) the past holds. Each window
is preceded by a short warm-up at the same load; each case is measured `repeats` times (3) and
the window with the median p50 is reported. After each window the hot product's books are
checked (nothing oversold, every 200 a hold). With the large tables in place, EXPLAIN shows the
plan of each query the hold path and the inventory's periodic jobs run, and flags any that reads
a whole table.

The rows are seeded with bulk SQL from this process, not through HTTP (a million requests would
take longer than the whole bench): one INSERT ... SELECT per table over a number series
(PostgreSQL's `generate_series`, a recursive CTE on SQLite), written with the inventory store's
own table definitions (`store.tables`) so that the schema has one place of truth. The service
creates the tables (its migrations) before the rows go in; it runs while they do.

`bench.holds` runs this as a section of its report (`scale_section`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import wrk
from bench.loadgen import LoadResult, run_load
from bench.postgres import POSTGRES, postgres_up
from flashsale.kit.db import Database
from flashsale.kit.db_admin import drop_postgres_database, service_database_url
from flashsale.kit.schema import outbox
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess
from flashsale.services.inventory.store.tables import reservation_items, reservations, stock

ADMIN = "bench-admin-token"
HOT = "HOT"
SMALL = 10  # products in the small catalogue, the hot one included
TARGET = 1.2  # p50 may grow at most this much
STOCK = 10**9  # more than any run can take: every request should be granted
FINAL_STATES = ("CONFIRMED", "RELEASED", "EXPIRED")
Load = Callable[[list[str], bytes, int, float], LoadResult]


@dataclass(frozen=True)
class Settings:
    clients: int = 16
    duration: float = 3.0
    rows: int = 1_000_000
    explain: bool = True
    # Windows per case; the one with the median p50 is reported. A single 3 s window on a shared
    # 2-core machine moved p50 by up to 1.5x between identical runs: more than the target allows.
    repeats: int = 3

    @property
    def warm_up(self) -> float:
        return min(1.0, self.duration / 2)


@dataclass(frozen=True)
class Measured:
    backend: str
    case: str  # "a", "b" or "d"
    what: str
    holds_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


# -- seeding ---------------------------------------------------------------------------------


def _numbers(dialect: str, count: int, start: int = 1) -> Any:
    """A one-column (`n`) selectable of start..start+count-1, made by the database itself."""
    if count <= 0:
        raise ValueError("nothing to seed")
    if dialect == "postgresql":
        return sa.func.generate_series(start, start + count - 1).table_valued("n").render_derived(name="numbers")
    series = sa.select(sa.literal(start, sa.BigInteger).label("n")).cte("numbers", recursive=True)
    return series.union_all(sa.select(series.c.n + 1).where(series.c.n < start + count - 1))


def _filler_id(n: Any) -> Any:
    """Product ids P0000001..., in the same text on both databases."""
    return sa.literal("P") + sa.func.substr(sa.cast(10_000_000 + n, sa.String), 2)


async def seed_products(db: Database, count: int, start: int = 1) -> None:
    """`count` more products (P<start>...), 100 units each: the catalogue beside the hot product."""
    numbers = _numbers(db.engine.dialect.name, count, start)
    rows = sa.select(_filler_id(numbers.c.n), sa.literal(100), sa.literal(0), sa.literal(0), sa.literal(100),
                     sa.literal(0))
    async with db.transaction() as conn:
        await conn.execute(stock.insert().from_select(
            ["product_id", "available", "reserved", "sold", "received", "written_off"], rows))


async def seed_past_holds(db: Database, count: int, products: int) -> None:
    """`count` ended holds of one unit each, spread over the hot product and P1..P<products-1>,
    CONFIRMED, RELEASED and EXPIRED in turn, created 2 ms apart until an hour ago, each with
    its item. The stock rows do not count their units: the hold path never reads history to
    decide, and only the tables' and indexes' growth is measured here. Their events are left out
    of the outbox (a million more rows would double the seeding time; the relay reads the outbox
    through its partial index of unpublished rows, which published history does not grow)."""
    dialect = db.engine.dialect.name
    now = await db.now_ms()
    numbers = _numbers(dialect, count)
    n = numbers.c.n
    hold_id = sa.literal("past-") + sa.cast(n, sa.String)
    created = sa.literal(now - 3_600_000, sa.BigInteger) - n * 2
    status = sa.case(*((n % 3 == i, state) for i, state in enumerate(FINAL_STATES[:-1])), else_=FINAL_STATES[-1])
    product = sa.case((n % products == 0, HOT), else_=_filler_id(n % products))
    async with db.transaction() as conn:
        await conn.execute(reservations.insert().from_select(
            ["reservation_id", "order_id", "customer_id", "status", "created_at_ms", "expires_at_ms",
             "updated_at_ms", "confirmed_at_ms"],
            sa.select(hold_id, sa.literal("order-past-") + sa.cast(n, sa.String),
                      sa.literal("customer-") + sa.cast(n % 50_000, sa.String), status, created, created + 600_000,
                      created + 60_000, sa.case((n % 3 == 0, created + 60_000), else_=sa.null()))))
        await conn.execute(reservation_items.insert().from_select(
            ["reservation_id", "product_id", "quantity"], sa.select(hold_id, product, sa.literal(1))))
    await settle(db, ["reservations", "reservation_items"])


async def settle(db: Database, tables: list[str]) -> None:
    """What the database does on its own soon after a bulk load, done before measuring, so the
    window measures the tables' size and not the load's aftermath: on PostgreSQL, ANALYZE (what
    autovacuum does soon after; without it the planner guesses at the sizes; a full VACUUM would
    add tens of seconds for nothing the hold path reads); on SQLite, a checkpoint of the
    write-ahead log (else the service's next commits copy the whole load into the file: measured
    4.4x the p50 of (a) without it, 1.16x with it)."""
    async with db.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if db.engine.dialect.name == "postgresql":
            await auto.execute(sa.text(f"ANALYZE {', '.join(tables)}"))
        else:
            await auto.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))


# -- plans -----------------------------------------------------------------------------------


STOCK_QUERIES = ("reserve: take", "stock gauges", "GET /inventory: a page")


def hold_path_queries(now_ms: int) -> dict[str, Any]:
    """The statements the hold path and the periodic jobs run (as store/ and kit/outbox.py
    build them), with typical arguments."""
    return {
        "reserve: take the batch's units (store/sql.move)": stock.update()
        .where(stock.c.product_id == HOT, stock.c.available >= 16)
        .values(available=stock.c.available - 16, reserved=stock.c.reserved + 16).returning(*stock.c),
        "reserve: retried orders of the batch (sql.reservations_of_orders_txn)": sa.select(reservations)
        .where(reservations.c.order_id.in_(["order-1", "order-2"])),
        "reserve: lines of a hold (sql.lines_of)": sa.select(reservation_items)
        .where(reservation_items.c.reservation_id.in_(["past-1"]))
        .order_by(reservation_items.c.reservation_id, reservation_items.c.product_id),
        "sweeper: due holds (store.due_holds)": sa.select(reservations.c.reservation_id, reservations.c.order_id)
        .where(reservations.c.status == "HELD", reservations.c.expires_at_ms <= now_ms)
        .order_by(reservations.c.expires_at_ms).limit(200),
        "stock gauges: active products (gauges.py)": sa.select(stock)
        .where(stock.c.product_id.in_([HOT, "P0000001"])),
        "GET /inventory: a page (store.products)": sa.select(stock)
        .where(stock.c.product_id > "P0500000").order_by(stock.c.product_id).limit(101),
        "GET /inventory: unpublished events (kit outbox_backlog)": sa.select(
            sa.func.count(), sa.func.min(outbox.c.created_at_ms)).where(outbox.c.published_at_ms.is_(None)),
        "relay: next events (kit Relay.relay_once)": sa.select(outbox.c.position, outbox.c.envelope)
        .where(outbox.c.published_at_ms.is_(None)).order_by(outbox.c.position).limit(500),
    }


def _reads_whole_table(dialect: str, plan: str) -> bool:
    if dialect == "postgresql":
        return "Seq Scan" in plan
    # SQLite: "SCAN <table>" without an index; "SCAN numbers"/a CTE is not a table.
    return any(line.strip().startswith("SCAN ") and "USING" not in line for line in plan.splitlines())


async def explain(db: Database, *, stock_queries: bool) -> list[str]:
    """EXPLAIN of the hold-path queries that read the stock table (`stock_queries`, with the large
    catalogue) or the others (with the long history), as report lines: a plan on a table of 10
    rows says nothing."""
    dialect = db.engine.dialect.name
    out: list[str] = []
    now = await db.now_ms()
    async with db.engine.connect() as conn:
        for what, statement in hold_path_queries(now).items():
            if what.startswith(STOCK_QUERIES) != stock_queries:
                continue
            text = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
            rows = (await conn.execute(sa.text(prefix + text))).all()
            plan = "\n".join(str(row[0]) if dialect == "postgresql" else str(row[-1]) for row in rows)
            flag = "READS THE WHOLE TABLE" if _reads_whole_table(dialect, plan) else "indexed"
            out.append(f"- {what}: {flag}")
            out += [f"    {line}" for line in plan.splitlines()]
        await conn.rollback()
    return out


# -- measuring -------------------------------------------------------------------------------


def default_load(urls: list[str], body: bytes, clients: int, duration: float) -> LoadResult:
    if wrk.available():
        return wrk.run_wrk(urls[0], body=body, concurrency=clients, duration_s=duration)
    return run_load(urls, body=body, concurrency=clients, duration_s=duration)


@dataclass
class Inventory:
    """One inventory process on a database of its own, and the bench's own connection to that database."""

    process: ServiceProcess
    url: str
    database_url: str

    def seed(self, work: Callable[[Database], Any]) -> float:
        """Run `work(db)` on a connection of the bench's own; the seconds it took."""
        async def run() -> None:
            db = await Database.connect(self.database_url, pool_size=1)
            try:
                await work(db)
            finally:
                await db.dispose()

        started = time.perf_counter()
        asyncio.run(run())
        return time.perf_counter() - started

    def receive_hot(self) -> None:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        for product in [HOT, *(f"P{n:07d}" for n in range(1, SMALL))]:
            httpx.post(f"{self.url}/inventory/{product}/receive", json={"quantity": STOCK if product == HOT else 100},
                       headers=admin, timeout=30).raise_for_status()

    def holds(self, load: Load, settings: Settings) -> tuple[LoadResult, int]:
        """A warm-up, then the measured window; (its result, holds granted so far by both)."""
        body = f'{{"productId": "{HOT}", "quantity": 1}}'.encode()
        urls = [f"{self.url}/inventory/reserve"]
        warm = load(urls, body, settings.clients, settings.warm_up)
        result = load(urls, body, settings.clients, settings.duration)
        return result, warm.statuses.get(200, 0) + result.statuses.get(200, 0)

    def check_books(self, granted: int) -> None:
        level = httpx.get(f"{self.url}/inventory/{HOT}", timeout=60).json()
        if level["available"] < 0 or level["sold"] + level["reserved"] > level["received"] - level["writtenOff"]:
            raise SystemExit(f"OVERSOLD: {level}")
        if level["reserved"] < granted:
            raise SystemExit(f"LOST HOLDS: {granted} granted but {level['reserved']} reserved: {level}")


@contextmanager
def running_inventory(backend: str, base: str, nats: str, tmp: Path, name: str) -> Iterator[Inventory]:
    """An inventory process (the default, coalesced, hold strategy) on a fresh database."""
    url = service_database_url(base, "inventory", tmp / name)
    env = {"FLASHSALE_DATABASE_URL": url, "FLASHSALE_BROKER_URL": nats, "FLASHSALE_ADMIN_TOKEN": ADMIN}
    process = ServiceProcess("inventory", free_port(), env, log_file=tmp / f"inventory-{name}.log")
    try:
        process.start().wait_healthy(60)  # healthy: migrated, the tables are there
        yield Inventory(process, process.url, url)
    finally:
        process.stop()
        if backend == "postgresql":
            asyncio.run(drop_postgres_database(url))


def _measure(inventory: Inventory, backend: str, case: str, what: str, load: Load, settings: Settings,
             granted: list[int]) -> Measured:
    """`settings.repeats` windows of the case; the one with the median p50."""
    windows: list[Measured] = []
    for _ in range(settings.repeats):
        result, ok = inventory.holds(load, settings)
        granted[0] += ok
        inventory.check_books(granted[0])
        row = Measured(backend, case, what, result.statuses.get(200, 0) / (result.seconds or 1),
                       result.percentile(50) * 1000, result.percentile(99) * 1000,
                       result.requests - result.statuses.get(200, 0))
        print(f"  {backend}, ({case}) {what}: {row.holds_per_s:,.0f} holds/s, p50 {row.p50_ms:.1f} ms, "
              f"p99 {row.p99_ms:.1f} ms", flush=True)
        windows.append(row)
    return sorted(windows, key=lambda row: row.p50_ms)[len(windows) // 2]


def measure_backend(backend: str, base: str, nats: str, tmp: Path, load: Load,
                    settings: Settings) -> tuple[list[Measured], list[str]]:
    rows: list[Measured] = []
    notes: list[str] = []
    big = f"{settings.rows:,}"
    with running_inventory(backend, base, nats, tmp, f"{backend}-catalogue") as inventory:
        inventory.receive_hot()
        granted = [0]
        rows.append(_measure(inventory, backend, "a", f"{SMALL} products, 0 past holds", load, settings, granted))
        took = inventory.seed(lambda db: _then(seed_products(db, settings.rows - SMALL, SMALL), settle(db, ["stock"])))
        notes.append(f"{backend}: {settings.rows - SMALL:,} products seeded in {took:.1f} s")
        rows.append(_measure(inventory, backend, "b", f"{big} products, 0 past holds", load, settings, granted))
        notes += _plans(inventory, settings, f"{backend}, query plans with {big} products:", stock_queries=True)
    with running_inventory(backend, base, nats, tmp, f"{backend}-history") as inventory:
        inventory.receive_hot()
        granted = [0]
        rows.append(_measure(inventory, backend, "c", f"{SMALL} products, 0 past holds", load, settings, granted))
        took = inventory.seed(lambda db: seed_past_holds(db, settings.rows, SMALL))
        notes.append(f"{backend}: {settings.rows:,} past holds (+ their items) seeded in {took:.1f} s")
        rows.append(_measure(inventory, backend, "d", f"{SMALL} products, {big} past holds", load, settings,
                             granted))
        notes += _plans(inventory, settings, f"{backend}, query plans with {big} past holds:", stock_queries=False)
    return rows, notes


def _plans(inventory: Inventory, settings: Settings, title: str, *, stock_queries: bool) -> list[str]:
    if not settings.explain:
        return []
    plans: list[str] = []
    inventory.seed(lambda db: _collect(explain(db, stock_queries=stock_queries), plans))
    return [title, *plans]


async def _then(*steps: Any) -> None:
    for step in steps:
        await step


async def _collect(lines: Any, into: list[str]) -> None:
    into.extend(await lines)


# -- report ----------------------------------------------------------------------------------


def _ratio_line(backend: str, rows: list[Measured], case: str, base: str, what: str) -> str:
    by_case = {r.case: r for r in rows if r.backend == backend}
    if case not in by_case or base not in by_case:
        return f"| {backend} | {what} | - | - |"
    ratio = by_case[case].p50_ms / by_case[base].p50_ms if by_case[base].p50_ms else float("nan")
    verdict = "met" if ratio <= TARGET else "NOT met"
    return f"| {backend} | {what} | {ratio:.2f} | {verdict} |"


def table(rows: list[Measured], settings: Settings) -> str:
    big = f"{settings.rows:,}"
    lines = [f"Scale: one hot product, {settings.clients} clients, {settings.duration:g} s windows "
             f"(per case the median p50 of {settings.repeats})",
             "", "| backend | case | ok/s | p50 ms | p99 ms | non-200 |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r.backend} | ({r.case}) {r.what} | {r.holds_per_s:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
              f"{r.errors} |" for r in rows]
    lines += ["", f"| backend | p50 ratio | value | target <= {TARGET} |", "|---|---|---:|---|"]
    for backend in dict.fromkeys(r.backend for r in rows):
        lines.append(_ratio_line(backend, rows, "b", "a", f"{big} / {SMALL} products (b/a)"))
        lines.append(_ratio_line(backend, rows, "d", "c", f"{big} / 0 past holds (d/c)"))
    return "\n".join(lines)


def run(backends: list[str], postgres: str, nats: str, tmp: Path, load: Load,
        settings: Settings) -> tuple[list[Measured], list[str]]:
    rows: list[Measured] = []
    notes: list[str] = []
    for backend in backends:
        if backend == "postgresql" and not postgres_up():
            print("PostgreSQL not reachable: its scale rows are skipped")
            continue
        base = postgres.rstrip("/") + f"/scale_{uuid.uuid4().hex[:6]}" if backend == "postgresql" else ""
        backend_rows, backend_notes = measure_backend(backend, base, nats, tmp, load, settings)
        rows += backend_rows
        notes += backend_notes
    return rows, notes


def scale_section(load: Load, backends: list[str], postgres: str, *, quick: bool = False) -> str:
    """The scale figures as a section of another report (bench.holds): its own NATS and processes."""
    settings = Settings(duration=1.5, rows=100_000, explain=False) if quick else Settings(explain=False)
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-scale-"))
    port = free_port()
    nats = start_nats(tmp / "nats", port, tmp / "nats.log")
    try:
        wait_for_port(port)
        print("scale: hold latency as the catalogue and the history grow", flush=True)
        rows, notes = run(backends, postgres, f"nats://127.0.0.1:{port}", tmp, load, settings)
    finally:
        nats.terminate()
        nats.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    section = "\n\n### " + table(rows, settings)
    return section + "".join(["\n", *(f"\n- {note}" for note in notes)]) if notes else section


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 rows and 1.5 s windows")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=None, help="seconds per window (3; --quick 1.5)")
    parser.add_argument("--rows", type=int, default=None, help="products and past holds (1,000,000; --quick 100,000)")
    parser.add_argument("--no-explain", action="store_true", help="skip the query plans")
    args = parser.parse_args()
    settings = Settings(clients=args.clients, duration=args.duration or (1.5 if args.quick else 3.0),
                        rows=args.rows or (100_000 if args.quick else 1_000_000), explain=not args.no_explain)
    postgres = POSTGRES
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-scale-"))
    port = free_port()
    nats = start_nats(tmp / "nats", port, tmp / "nats.log")
    started = time.perf_counter()
    try:
        wait_for_port(port)
        print(f"load generator: {'wrk' if wrk.available() else 'Python (multi-process)'}", flush=True)
        rows, notes = run(args.backends.split(","), postgres, f"nats://127.0.0.1:{port}", tmp, default_load,
                          settings)
    finally:
        nats.terminate()
        nats.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(rows, settings))
    print("\n".join(notes))
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
