"""Hot-product holds per second through HTTP, beside the hello-world ceiling, in one run.

    python -m bench.holds [--duration 3] [--levels 1,16,64,256] [--no-record]

Starts its own NATS, an inventory service per database backend (SQLite always, PostgreSQL when
reachable) and a hello-world app on the same server stack, drives each with the same load
generator, prints holds/s, p50/p99 and the ratio to the ceiling, checks after each run that
nothing was oversold (sold + reserved <= received), and appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

from bench.loadgen import LoadResult, run_load
from flashsale.kit.db import service_database_url
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess

POSTGRES = os.environ.get("FLASHSALE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/")
RESULTS = Path(__file__).parent / "RESULTS.md"
ADMIN = "bench-admin-token"


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


class Row:
    def __init__(self, name: str, clients: int, result: LoadResult) -> None:
        self.name, self.clients, self.result = name, clients, result
        ok = result.statuses.get(200, 0)
        self.per_s = ok / result.seconds if result.seconds else 0.0
        self.p50 = _pct(result.latencies, 50) * 1000
        self.p99 = _pct(result.latencies, 99) * 1000
        self.errors = result.requests - ok


def _ceiling(levels: list[int], duration: float, tmp: Path) -> list[Row]:
    port = free_port()
    with open(tmp / "hello.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bench.hello", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port)
        return [Row("hello-world (ceiling)", c, run_load(f"http://127.0.0.1:{port}/hello", concurrency=c,
                                                            duration_s=duration)) for c in levels]
    finally:
        proc.terminate()
        proc.wait(10)


def _holds(backend: str, database: str, nats: str, levels: list[int], duration: float, tmp: Path) -> list[Row]:
    env = {"FLASHSALE_DATABASE_URL": service_database_url(database, "inventory", tmp / backend),
           "FLASHSALE_BROKER_URL": nats, "FLASHSALE_ADMIN_TOKEN": ADMIN}
    inventory = ServiceProcess("inventory", free_port(), env, log_file=tmp / f"inventory-{backend}.log")
    inventory.start().wait_healthy(60)
    rows = []
    try:
        product = f"HOT-{uuid.uuid4().hex[:6]}"
        httpx.post(f"{inventory.url}/inventory/{product}/receive", json={"quantity": 10**9},
                   headers={"Authorization": f"Bearer {ADMIN}"}).raise_for_status()
        body = f'{{"productId": "{product}", "quantity": 1}}'.encode()
        for clients in levels:
            result = run_load(f"{inventory.url}/inventory/reserve", body=body, concurrency=clients,
                              duration_s=duration)
            rows.append(Row(f"reserve, one hot product, {backend}", clients, result))
            _assert_not_oversold(inventory.url, product)
    finally:
        inventory.stop()
    return rows


def _assert_not_oversold(url: str, product: str) -> None:
    stock = httpx.get(f"{url}/inventory/{product}").json()
    if stock["sold"] + stock["reserved"] > stock["received"] - stock["writtenOff"] or stock["available"] < 0:
        raise SystemExit(f"OVERSOLD: {stock}")


def _table(rows: list[Row], ceiling: dict[int, float]) -> str:
    lines = ["| what | clients | ok/s | p50 ms | p99 ms | non-200 | vs ceiling |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r.per_s / ceiling[r.clients] if ceiling.get(r.clients) else float("nan")
        lines.append(f"| {r.name} | {r.clients} | {r.per_s:,.0f} | {r.p50:.1f} | {r.p99:.1f} | {r.errors} | "
                     f"{ratio:.2f} |")
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
    try:
        wait_for_port(nats_port)
        ceiling_rows = _ceiling(levels, args.duration, tmp)
        rows = list(ceiling_rows)
        rows += _holds("sqlite", "", f"nats://127.0.0.1:{nats_port}", levels, args.duration, tmp)
        if _postgres_up():
            prefix = POSTGRES.rstrip("/") + f"/bench_{uuid.uuid4().hex[:6]}"
            rows += _holds("postgresql", prefix, f"nats://127.0.0.1:{nats_port}", levels, args.duration, tmp)
        else:
            print("PostgreSQL not reachable: its rows are skipped")
    finally:
        nats.terminate()
        nats.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    table = _table(rows, {r.clients: r.per_s for r in ceiling_rows})
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
