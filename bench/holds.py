"""Hot-product holds per second through HTTP, beside the hello-world ceiling, in one run.

    python -m bench.holds [--duration 3] [--levels 1,16,64,256] [--no-record]

Starts its own NATS, an inventory service per database backend (SQLite always, PostgreSQL when
reachable) and hold strategy (FLASHSALE_HOLD_STRATEGY: the naive lock-then-write baseline, then
the conditional UPDATE), a hello-world app on the same server stack, and a Redis Lua gate (when
Redis is reachable) as an in-memory, non-durable reference. Drives each with the same load
generator; prints holds/s, p50/p99, the ratio to the ceiling and to the naive strategy (same
database, same clients) and each process's resident memory right after its heaviest load;
checks after each run that nothing was oversold (sold + reserved <= received), exiting non-zero
if anything was; and appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from bench.loadgen import LoadResult, run_load
from flashsale.kit.db import drop_postgres_database, service_database_url
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess

POSTGRES = os.environ.get("FLASHSALE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/")
REDIS = os.environ.get("FLASHSALE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
RESULTS = Path(__file__).parent / "RESULTS.md"
ADMIN = "bench-admin-token"
# The baseline first: every later strategy's rows are divided by its rows.
STRATEGIES = ("naive", "conditional")
BASELINE = STRATEGIES[0]
STOCK = 10**9  # more than any run can take: every request should be granted


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def _rss_mb(pid: int | None) -> float:
    """Resident memory (VmRSS) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Row:
    def __init__(self, name: str, clients: int, result: LoadResult, *, backend: str | None = None,
                 strategy: str | None = None) -> None:
        self.name, self.clients, self.result = name, clients, result
        self.backend, self.strategy = backend, strategy
        ok = result.statuses.get(200, 0)
        self.per_s = ok / result.seconds if result.seconds else 0.0
        self.p50 = _pct(result.latencies, 50) * 1000
        self.p99 = _pct(result.latencies, 99) * 1000
        self.errors = result.requests - ok


@dataclass
class Report:
    rows: list[Row]
    memory: list[tuple[str, float]]  # (process, resident MB right after its heaviest load)


def _drive(name: str, url: str, body: bytes, levels: list[int], duration: float, pid: int | None, report: Report,
           check: Callable[[Row], None] | None = None, **tags: str) -> None:
    """Every client count against one process, heaviest last measured for memory; `check` runs after each."""
    heaviest = max(levels)
    for clients in levels:
        result = run_load(url, body=body, concurrency=clients, duration_s=duration)
        if clients == heaviest:
            report.memory.append((name, _rss_mb(pid)))
        row = Row(name, clients, result, **tags)
        report.rows.append(row)
        print(f"  {name}, {clients} clients: {row.per_s:,.0f}/s, p99 {row.p99:.1f} ms", flush=True)
        if check is not None:
            check(row)


def _ceiling(levels: list[int], duration: float, tmp: Path, report: Report) -> None:
    port = free_port()
    with open(tmp / "hello.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bench.hello", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port)
        _drive("hello-world (ceiling)", f"http://127.0.0.1:{port}/hello", b"", levels, duration, proc.pid, report)
    finally:
        proc.terminate()
        proc.wait(10)


def _redis_gate(levels: list[int], duration: float, tmp: Path, report: Report) -> None:
    client = redis.Redis.from_url(REDIS, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        print(f"Redis not reachable at {REDIS} ({error}): the Redis gate rows are skipped")
        return
    key = f"flashsale-bench:{uuid.uuid4().hex[:8]}"
    client.set(key, STOCK)
    port = free_port()
    with open(tmp / "redis-gate.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bench.redis_gate", str(port), REDIS, key],
                                stdout=log, stderr=log)
    granted = 0

    def not_oversold(row: Row) -> None:
        nonlocal granted
        granted += row.result.statuses.get(200, 0)
        left = int(client.get(key) or 0)
        # A grant the client never saw (a cut connection) would make taken > granted: not an oversell.
        if left < 0 or granted > STOCK - left:
            raise SystemExit(f"OVERSOLD by the Redis gate: {granted} granted, {STOCK - left} taken, {left} left")

    try:
        wait_for_port(port)
        body = b'{"productId": "HOT", "quantity": 1}'
        _drive("Redis Lua gate (in memory, not durable)", f"http://127.0.0.1:{port}/reserve", body, levels,
               duration, proc.pid, report, not_oversold)
    finally:
        proc.terminate()
        proc.wait(10)
        client.delete(key)
        client.close()


def _holds(backend: str, database: str, strategy: str, nats: str, levels: list[int], duration: float, tmp: Path,
           report: Report) -> None:
    env = {"FLASHSALE_DATABASE_URL": service_database_url(database, "inventory", tmp / f"{backend}-{strategy}"),
           "FLASHSALE_BROKER_URL": nats, "FLASHSALE_ADMIN_TOKEN": ADMIN, "FLASHSALE_HOLD_STRATEGY": strategy}
    inventory = ServiceProcess("inventory", free_port(), env, log_file=tmp / f"inventory-{backend}-{strategy}.log")
    inventory.start().wait_healthy(60)
    try:
        product = f"HOT-{uuid.uuid4().hex[:6]}"
        httpx.post(f"{inventory.url}/inventory/{product}/receive", json={"quantity": STOCK},
                   headers={"Authorization": f"Bearer {ADMIN}"}).raise_for_status()
        body = f'{{"productId": "{product}", "quantity": 1}}'.encode()
        _drive(f"reserve, one hot product, {backend}, {strategy}", f"{inventory.url}/inventory/reserve", body,
               levels, duration, inventory.pid, report, lambda _: _assert_not_oversold(inventory.url, product),
               backend=backend, strategy=strategy)
    finally:
        inventory.stop()
        if backend == "postgresql":
            asyncio.run(drop_postgres_database(env["FLASHSALE_DATABASE_URL"]))


def _assert_not_oversold(url: str, product: str) -> None:
    stock = httpx.get(f"{url}/inventory/{product}").json()
    if stock["sold"] + stock["reserved"] > stock["received"] - stock["writtenOff"] or stock["available"] < 0:
        raise SystemExit(f"OVERSOLD: {stock}")


def _ratio(part: float, whole: float | None) -> str:
    return f"{part / whole:.2f}" if whole else "-"


def _table(report: Report) -> str:
    ceiling = {r.clients: r.per_s for r in report.rows if r.name.startswith("hello-world")}
    naive = {(r.backend, r.clients): r.per_s for r in report.rows if r.strategy == BASELINE}
    lines = ["| what | clients | ok/s | p50 ms | p99 ms | non-200 | vs ceiling | vs naive |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report.rows:
        vs_naive = _ratio(r.per_s, naive.get((r.backend, r.clients))) if r.backend else "-"
        lines.append(f"| {r.name} | {r.clients} | {r.per_s:,.0f} | {r.p50:.1f} | {r.p99:.1f} | {r.errors} | "
                     f"{_ratio(r.per_s, ceiling.get(r.clients))} | {vs_naive} |")
    lines += ["", "| process | resident MB after its heaviest load |", "|---|---:|"]
    lines += [f"| {name} | {mb:.0f} |" for name, mb in report.memory]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-bench-"))
    nats_port = free_port()
    nats = start_nats(tmp / "nats", nats_port, tmp / "nats.log")
    nats_url = f"nats://127.0.0.1:{nats_port}"
    report = Report([], [])
    try:
        wait_for_port(nats_port)
        _ceiling(levels, args.duration, tmp, report)
        _redis_gate(levels, args.duration, tmp, report)
        backends = [("sqlite", "")]
        if _postgres_up():
            backends.append(("postgresql", POSTGRES.rstrip("/") + f"/bench_{uuid.uuid4().hex[:6]}"))
        else:
            print("PostgreSQL not reachable: its rows are skipped")
        for backend, database in backends:
            for strategy in STRATEGIES:
                _holds(backend, database, strategy, nats_url, levels, args.duration, tmp, report)
    finally:
        nats.terminate()
        nats.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    table = _table(report)
    print(table)
    if not args.no_record:
        _record(table, args)


def _record(table: str, args: argparse.Namespace) -> None:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    command = f"python -m bench.holds --duration {args.duration} --levels {args.levels}"
    with RESULTS.open("a") as out:
        out.write(f"\n## {when}\n\n`{command}` on {machine}; load generator on the same machine.\n\n{table}\n")


if __name__ == "__main__":
    main()
