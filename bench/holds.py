"""Hot-product holds per second through HTTP, beside the hello-world ceiling, in one run.

    python -m bench.holds [--duration 3] [--levels 1,16,64,256] [--no-record]
                          [--strategies naive,conditional,coalesced] [--backends sqlite,postgresql]
                          [--loadgen auto|wrk|python] [--no-references] [--no-checkout]

Starts its own NATS, an inventory service per database backend (SQLite always, PostgreSQL when
reachable) and hold strategy (the naive lock-then-write baseline, bench/naive_inventory.py; then
FLASHSALE_HOLD_STRATEGY's conditional UPDATE and coalesced batches), then the coalesced strategy again as two processes
on one PostgreSQL database (is the hot row the limit across processes?), a hello-world app on
the same server stack, and a Redis Lua gate (when Redis is reachable) as an in-memory,
non-durable reference. Drives each with the same load generator (wrk when installed, else the
multi-process Python one; the ceiling is measured with both, side by side); prints holds/s,
p50/p99, the ratio to the ceiling and to the naive strategy (same database, same clients) and
each process's resident memory right after its heaviest load; checks after each run that
nothing was oversold (sold + reserved <= received), exiting non-zero if anything was; and
appends the figures to bench/RESULTS.md. Last, the end-to-end checkout section of bench/checkout.py
(a whole house per backend, buyers straight at the order instances and through the gateway; alone:
`python -m bench.checkout --quick`), and how long events wait in the consumers' pull
(bench/delivery.py), in the same report.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import checkout, delivery, naive_inventory, wrk
from bench.figures import ratio
from bench.loadgen import LoadResult, run_load
from bench.postgres import POSTGRES, fresh_prefix, postgres_up
from bench.scale import scale_section
from flashsale.kit.db_admin import drop_postgres_database, service_database_url
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess

REDIS = os.environ.get("FLASHSALE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
RESULTS = Path(__file__).parent / "RESULTS.md"
ADMIN = "bench-admin-token"
# The baseline first: every later strategy's rows are divided by its rows.
STRATEGIES = ("naive", "conditional", "coalesced")
BASELINE = STRATEGIES[0]
SCALED = ("postgresql", "coalesced", 2)  # (backend, strategy, processes) measured across processes too
STOCK = 10**9  # more than any run can take: every request should be granted
Load = Callable[[list[str], bytes, int, float], LoadResult]


def _rss_mb(pid: int | None) -> float:
    """Resident memory (VmRSS) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def python_load(urls: list[str], body: bytes, clients: int, duration: float) -> LoadResult:
    return run_load(urls, body=body, concurrency=clients, duration_s=duration)


def wrk_load(urls: list[str], body: bytes, clients: int, duration: float) -> LoadResult:
    """wrk against each URL at once, the clients shared out. Over several URLs the p50 is the
    runs' request-weighted mean and the p99 the worst of them: close, not exact."""
    shares = [clients // len(urls) + (1 if i < clients % len(urls) else 0) for i in range(len(urls))]
    runs = [(url, n) for url, n in zip(urls, shares, strict=True) if n]
    with ThreadPoolExecutor(len(runs)) as pool:
        results = list(pool.map(lambda run: wrk.run_wrk(run[0], body=body, concurrency=run[1], duration_s=duration),
                                runs))
    if len(results) == 1:
        return results[0]
    total = LoadResult()
    for result in results:
        total.merge(result)
    answered = sum(r.requests for r in results) or 1
    total.p50_s = sum((r.p50_s or 0.0) * r.requests for r in results) / answered
    total.p99_s = max(r.p99_s or 0.0 for r in results)
    return total


class Row:
    def __init__(self, name: str, clients: int, result: LoadResult, *, processes: int = 1,
                 backend: str | None = None, strategy: str | None = None) -> None:
        self.name, self.clients, self.result, self.processes = name, clients, result, processes
        self.backend, self.strategy = backend, strategy
        ok = result.statuses.get(200, 0)
        self.ok = ok
        self.per_s = ok / result.seconds if result.seconds else 0.0
        self.p50 = result.percentile(50) * 1000
        self.p99 = result.percentile(99) * 1000
        self.errors = result.requests - ok


@dataclass
class Report:
    rows: list[Row]
    memory: list[tuple[str, float]]  # (process, resident MB right after its heaviest load)


@dataclass(frozen=True)
class Bench:
    levels: list[int]
    duration: float
    tmp: Path
    load: Load
    report: Report

    def drive(self, name: str, urls: list[str], body: bytes, pids: list[int | None],
              check: Callable[[Row], None] | None = None, load: Load | None = None, processes: int = 1,
              **tags: str) -> None:
        """Every client count against the processes, heaviest last measured for memory; `check` after each."""
        for clients in self.levels:
            result = (load or self.load)(urls, body, clients, self.duration)
            if clients == max(self.levels):
                self.report.memory.append((name, max(_rss_mb(pid) for pid in pids)))
            row = Row(name, clients, result, processes=processes, **tags)
            self.report.rows.append(row)
            print(f"  {name}, {clients} clients: {row.per_s:,.0f}/s, p50 {row.p50:.1f} ms, p99 {row.p99:.1f} ms",
                  flush=True)
            if check is not None:
                check(row)


CEILING = "hello-world (ceiling)"


def _ceiling(bench: Bench, compare_python: bool, processes: int = 1) -> None:
    """The hello-world app as `processes` processes, driven as the holds of as many inventory
    processes are (the clients spread over them): the ceiling for rows of that many processes."""
    procs: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(processes)]
    try:
        with open(bench.tmp / "hello.log", "ab") as log:
            procs = [subprocess.Popen([sys.executable, "-m", "bench.hello", str(port)], stdout=log, stderr=log)
                     for port in ports]
        for port in ports:
            wait_for_port(port)
        urls = [f"http://127.0.0.1:{port}/hello" for port in ports]
        pids: list[int | None] = [proc.pid for proc in procs]
        bench.drive(CEILING + _times(processes), urls, b"", pids, processes=processes)
        if compare_python:  # which load generator drives the server harder, side by side
            bench.drive("hello-world, Python load generator", urls, b"", pids, load=python_load)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def _times(processes: int) -> str:
    return f" x{processes} processes" if processes > 1 else ""


def _redis_gate(bench: Bench) -> None:
    try:
        import redis  # the bench extra (`make bench` installs it): not every bench run needs it
    except ImportError:
        print("No Redis client (pip install -e '.[bench]'): the Redis gate rows are skipped")
        return
    client = redis.Redis.from_url(REDIS, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        print(f"Redis not reachable at {REDIS} ({error}): the Redis gate rows are skipped")
        return
    key = f"flashsale-bench:{uuid.uuid4().hex[:8]}"
    client.set(key, STOCK)
    port = free_port()
    with open(bench.tmp / "redis-gate.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bench.redis_gate", str(port), REDIS, key],
                                stdout=log, stderr=log)
    granted = 0

    def not_oversold(row: Row) -> None:
        nonlocal granted
        granted += row.ok
        left = int(client.get(key) or 0)
        # A grant the client never saw (a cut connection) would make taken > granted: not an oversell.
        if left < 0 or granted > STOCK - left:
            raise SystemExit(f"OVERSOLD by the Redis gate: {granted} granted, {STOCK - left} taken, {left} left")

    try:
        wait_for_port(port)
        body = b'{"productId": "HOT", "quantity": 1}'
        bench.drive("Redis Lua gate (in memory, not durable)", [f"http://127.0.0.1:{port}/reserve"], body,
                    [proc.pid], not_oversold)
    finally:
        proc.terminate()
        proc.wait(10)
        client.delete(key)
        client.close()


def _holds(bench: Bench, backend: str, database: str, strategy: str, nats: str, processes: int = 1) -> None:
    run = f"{backend}-{strategy}-{processes}"
    env = {"FLASHSALE_DATABASE_URL": service_database_url(database, "inventory", bench.tmp / run),
           "FLASHSALE_BROKER_URL": nats, "FLASHSALE_ADMIN_TOKEN": ADMIN}
    if strategy != BASELINE:
        env["FLASHSALE_HOLD_STRATEGY"] = strategy
    module = naive_inventory.MODULE if strategy == BASELINE else None  # the baseline lives in bench/
    inventories: list[ServiceProcess] = []
    try:
        for n in range(1, processes + 1):  # one after the other: the first migrates the database
            process = ServiceProcess("inventory", free_port(), {**env, "FLASHSALE_INSTANCE": str(n)},
                                     log_file=bench.tmp / f"inventory-{run}-{n}.log", module=module)
            inventories.append(process.start().wait_healthy(60))
        url = inventories[0].url
        product = f"HOT-{uuid.uuid4().hex[:6]}"
        httpx.post(f"{url}/inventory/{product}/receive", json={"quantity": STOCK},
                   headers={"Authorization": f"Bearer {ADMIN}"}).raise_for_status()
        body = f'{{"productId": "{product}", "quantity": 1}}'.encode()
        granted = 0

        def on_the_books(row: Row) -> None:
            nonlocal granted
            granted += row.ok
            _assert_not_oversold(url, product, granted)

        name = f"reserve, one hot product, {backend}, {strategy}{_times(processes)}"
        bench.drive(name, [f"{p.url}/inventory/reserve" for p in inventories], body, [p.pid for p in inventories],
                    on_the_books, processes=processes, backend=backend,
                    strategy=strategy if processes == 1 else f"{strategy} x{processes}")
    finally:
        for process in inventories:
            process.stop()
        if backend == "postgresql":
            asyncio.run(drop_postgres_database(env["FLASHSALE_DATABASE_URL"]))


def _assert_not_oversold(url: str, product: str, granted: int) -> None:
    """Nothing oversold, and every 200 the clients saw is a hold on the books (a hold whose answer
    was lost on the way, a cut connection, would make reserved > granted: not a fault)."""
    stock = httpx.get(f"{url}/inventory/{product}", timeout=60).json()
    if stock["sold"] + stock["reserved"] > stock["received"] - stock["writtenOff"] or stock["available"] < 0:
        raise SystemExit(f"OVERSOLD: {stock}")
    if stock["reserved"] < granted:
        raise SystemExit(f"LOST HOLDS: {granted} granted but {stock['reserved']} reserved: {stock}")


def _table(report: Report) -> str:
    # Each row against the ceiling of as many processes (the hello-world app run the same way).
    ceiling = {(r.processes, r.clients): r.per_s for r in report.rows if r.name.startswith(CEILING)}
    naive = {(r.backend, r.clients): r.per_s for r in report.rows if r.strategy == BASELINE}
    lines = ["| what | clients | ok/s | p50 ms | p99 ms | non-200 | vs ceiling | vs naive |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report.rows:
        vs_naive = ratio(r.per_s, naive.get((r.backend, r.clients))) if r.backend else "-"
        lines.append(f"| {r.name} | {r.clients} | {r.per_s:,.0f} | {r.p50:.1f} | {r.p99:.1f} | {r.errors} | "
                     f"{ratio(r.per_s, ceiling.get((r.processes, r.clients)))} | {vs_naive} |")
    lines += ["", "| process | resident MB after its heaviest load |", "|---|---:|"]
    lines += [f"| {name} | {mb:.0f} |" for name, mb in report.memory]
    return "\n".join(lines)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="hold strategies to measure")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-references", action="store_true", help="skip the ceiling and the Redis gate")
    parser.add_argument("--no-checkout", action="store_true", help="skip the end-to-end checkout section")
    parser.add_argument("--no-front-door", action="store_true", help="skip the buyers-through-the-gateway section")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and wrk.available())
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-bench-"))
    bench = Bench([int(x) for x in args.levels.split(",")], args.duration, tmp,
                  wrk_load if use_wrk else python_load, Report([], []))
    print(f"load generator: {'wrk' if use_wrk else 'Python (multi-process)'}", flush=True)
    nats_port = free_port()
    nats = start_nats(tmp / "nats", nats_port, tmp / "nats.log")
    nats_url = f"nats://127.0.0.1:{nats_port}"
    try:
        wait_for_port(nats_port)
        if not args.no_references:
            _ceiling(bench, compare_python=use_wrk)
            _ceiling(bench, compare_python=False, processes=SCALED[2])
            _redis_gate(bench)
        backends = [("sqlite", "")] if "sqlite" in args.backends.split(",") else []
        if "postgresql" in args.backends.split(","):
            if postgres_up():
                backends.append(("postgresql", fresh_prefix("bench")))
            else:
                print("PostgreSQL not reachable: its rows are skipped")
        strategies = args.strategies.split(",")
        for backend, database in backends:
            for strategy in strategies:
                _holds(bench, backend, database, strategy, nats_url)
            if (backend, SCALED[1]) == SCALED[:2] and SCALED[1] in strategies:
                _holds(bench, backend, database, SCALED[1], nats_url, processes=SCALED[2])
        pulling = delivery.section(nats_url)  # bench/delivery.py: the consumers' pull, on this broker
    finally:
        nats.terminate()
        nats.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    table = _table(bench.report)
    table += scale_section(bench.load, args.backends.split(","), POSTGRES)  # bench/scale.py: catalogue, history
    if not args.no_checkout:  # bench/checkout.py: whole houses, measured against this run's ceiling
        table += "\n\n" + checkout.section(checkout.best_ceiling(bench.report), backends=args.backends.split(","))
    table += "\n\n" + pulling
    if not args.no_front_door:  # bench/front_door.py: signed-in buyers through the gateway of a running house
        from bench import front_door  # here: it imports bench.profile_holds, which imports this module

        table += "\n\n" + front_door.section(args.backends.split(","))
    print(table)
    if not args.no_record:
        _record(table, args, "wrk" if use_wrk else "the Python load generator")


def _record(table: str, args: argparse.Namespace, generator: str) -> None:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    command = f"python -m bench.holds --duration {args.duration} --levels {args.levels}"
    with RESULTS.open("a") as out:
        out.write(f"\n## {when}\n\n`{command}` on {machine}; {generator} on the same machine.\n\n{table}\n")


if __name__ == "__main__":
    main()
