"""What tracing costs on the hold path: the same inventory with FLASHSALE_TRACING=off and on.

    python -m bench.tracing [--duration 3] [--levels 16,64] [--rounds 2] [--backends sqlite,postgresql]
    python -m bench.tracing --micro-only    # the CPU tracing adds to one hold, in process

Starts its own NATS and, per database backend, three inventory processes side by side (each its
own database): tracing off; spans written to files for every hold (as `flashsale up` runs it);
and the same for a tenth of the holds (OTEL_TRACES_SAMPLER). Drives them in turn for every
client count and round, with the same load generator and body (a hold on one hot product, no
traceparent: every hold is a trace of its own, the worst case). Prints holds/s, p50/p99, the
CPU each hold cost its process (user+system time over the run / holds) and the spans written
per hold; nothing is recorded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.loadgen import run_load
from bench.postgres import fresh_prefix, postgres_up
from flashsale.kit.db_admin import drop_postgres_database, service_database_url
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess

TICKS = os.sysconf("SC_CLK_TCK")
ADMIN = "bench-admin-token"
STOCK = 10**9  # more than any run can take: every hold is granted
# What each inventory process runs with: no tracing, every hold traced, one hold in ten traced.
MODES = {
    "off": {"FLASHSALE_TRACING": "off"},
    "on": {"FLASHSALE_TRACING": "on"},
    "on, 10% sampled": {"FLASHSALE_TRACING": "on", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                        "OTEL_TRACES_SAMPLER_ARG": "0.1"},
}


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def _cpu_s(pid: int | None) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _spans(trace_dir: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in trace_dir.glob("*.jsonl*")) if trace_dir.exists() else 0


@dataclass
class Totals:
    holds: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    spans: int = 0

    def add(self, holds: int, seconds: float, cpu_s: float, spans: int) -> None:
        self.holds += holds
        self.seconds += seconds
        self.cpu_s += cpu_s
        self.spans += spans


def _start(mode: str, database: str, nats: str, tmp: Path) -> tuple[ServiceProcess, str, Path]:
    name = mode.replace(" ", "").replace(",", "-").replace("%", "pct")
    trace_dir = tmp / f"traces-{name}"
    env = {"FLASHSALE_DATABASE_URL": database, "FLASHSALE_BROKER_URL": nats, "FLASHSALE_ADMIN_TOKEN": ADMIN,
           "FLASHSALE_TRACE_DIR": str(trace_dir), **MODES[mode]}
    proc = ServiceProcess("inventory", free_port(), env, log_file=tmp / f"inventory-{name}.log").start()
    proc.wait_healthy(60)
    product = f"HOT-{uuid.uuid4().hex[:6]}"
    httpx.post(f"{proc.url}/inventory/{product}/receive", json={"quantity": STOCK},
               headers={"Authorization": f"Bearer {ADMIN}"}).raise_for_status()
    return proc, product, trace_dir


def _compare(backend: str, base: str, nats: str, args: argparse.Namespace, tmp: Path) -> None:
    procs = {mode: _start(mode, service_database_url(base, "inventory", tmp / f"{backend}-{n}")
                          if backend == "sqlite" else base + f"_{n}", nats, tmp) for n, mode in enumerate(MODES)}
    try:
        for clients in args.levels:
            totals = {mode: Totals() for mode in procs}
            latencies: dict[str, list[float]] = {mode: [] for mode in procs}
            for _ in range(args.rounds):
                for mode, (proc, product, trace_dir) in procs.items():
                    body = f'{{"productId": "{product}", "quantity": 1}}'.encode()
                    cpu, spans = _cpu_s(proc.pid), _spans(trace_dir)
                    result = run_load(f"{proc.url}/inventory/reserve", body=body, concurrency=clients,
                                      duration_s=args.duration)
                    ok = result.statuses.get(200, 0)
                    totals[mode].add(ok, result.seconds, _cpu_s(proc.pid) - cpu, _spans(trace_dir) - spans)
                    latencies[mode].extend(result.latencies)
            _print(backend, clients, totals, latencies)
    finally:
        for proc, _, _ in procs.values():
            proc.stop()


def _print(backend: str, clients: int, totals: dict[str, Totals], latencies: dict[str, list[float]]) -> None:
    rate = {mode: t.holds / t.seconds if t.seconds else 0.0 for mode, t in totals.items()}
    for mode, t in totals.items():
        cpu_us = t.cpu_s / t.holds * 1e6 if t.holds else float("nan")
        print(f"| {backend} | {clients} | tracing {mode} | {rate[mode]:,.0f} | "
              f"{_pct(latencies[mode], 50) * 1000:.1f} | {_pct(latencies[mode], 99) * 1000:.1f} | {cpu_us:.0f} | "
              f"{t.spans / t.holds if t.holds else 0:.1f} | {rate[mode] / rate['off'] if rate['off'] else 0:.2f} |",
              flush=True)


def micro(holds: int = 20_000) -> None:
    """The tracing work of one hold, in process and without I/O but the span files: the server
    span (middleware), the transaction span, the event's traceparent, the relay's publish span,
    and their export. CPU per hold with tracing off and on, each in a fresh interpreter."""
    for mode in ("off", "on"):
        out = subprocess.run([sys.executable, "-c", _MICRO, mode, str(holds)], capture_output=True, text=True,
                             check=True)
        print(f"in process, tracing {mode}: {out.stdout.strip()}")


_MICRO = """
import asyncio, sys, tempfile, time
from flashsale.kit import trace_points, tracing
from flashsale.kit.envelope import Envelope
from flashsale.kit.settings import ServiceSettings

written = []

async def hold(scope, receive, send):
    with tracing.child_span_if_slow("db.transaction", {"db.system.name": "sqlite"}, at_least_s=0):
        written.append(Envelope.new(source="inventory", type="StockReserved", subject="p", data={}, now_ms=0))
    await send({"type": "http.response.start", "status": 200})

async def main(n):
    server = trace_points.RequestTracing(hold)
    scope = {"type": "http", "method": "POST", "path": "/inventory/reserve", "headers": [(b"host", b"x")]}
    async def send(message): pass
    async def receive(): return {}
    started = time.process_time()
    for _ in range(n):
        await server(scope, receive, send)
        if len(written) == 50:
            rows = [e.to_bytes().decode() for e in written]
            with trace_points.publishing(["inventory.StockReserved"] * len(rows), rows):
                written.clear()
    tracing.shutdown_tracing()
    return (time.process_time() - started) / n * 1e6

mode, n = sys.argv[1], int(sys.argv[2])
tracing.configure_tracing("inventory", "1", ServiceSettings(tracing=mode, trace_dir=tempfile.mkdtemp()))
asyncio.run(main(n // 10))
print(f"{asyncio.run(main(n)):.0f} us CPU per hold")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--levels", default="16,64", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--micro-only", action="store_true", help="only the in-process cost per hold")
    args = parser.parse_args()
    micro()
    if args.micro_only:
        return
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-bench-tracing-"))
    nats_port = free_port()
    nats = start_nats(tmp / "nats", nats_port, tmp / "nats.log")
    pg_base = fresh_prefix("bench_tr")
    print("| backend | clients | mode | holds/s | p50 ms | p99 ms | CPU µs per hold | spans per hold | vs off |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    try:
        wait_for_port(nats_port)
        if "sqlite" in args.backends:
            _compare("sqlite", "", f"nats://127.0.0.1:{nats_port}", args, tmp)
        if "postgresql" in args.backends and postgres_up():
            _compare("postgresql", service_database_url(pg_base, "inventory"), f"nats://127.0.0.1:{nats_port}",
                     args, tmp)
    finally:
        nats.terminate()
        nats.wait(10)
        if "postgresql" in args.backends and postgres_up():
            import asyncio

            for n in range(len(MODES)):
                asyncio.run(drop_postgres_database(service_database_url(pg_base, "inventory") + f"_{n}"))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
