"""Outbound HTTP clients side by side: what one internal call costs the calling process.

    python -m bench.http_clients [--callers 256] [--seconds 5] [--rounds 3] [--clients httpx,aiohttp]

Every buy attempt crosses two internal calls (gateway -> orders -> inventory), each made by a
service through kit.http's pooled client while a crowd of callers waits on the pool. This starts
the hello-world app (bench/hello.py, the services' own server stack) and, in a child process per
run, `--callers` coroutines posting a small JSON body through one shared client with the pool
limits kit.http uses (200 connections), for `--seconds`. Clients alternate round by round; per
client the median round is printed: calls/s, the calling process's CPU per call (what the
gateway or the order service pays), p50/p99, and the ratio between the clients.

Why it exists: py-spy of the gateway and the order service under the front-door crowd put more
than half of their samples inside httpcore's pool (`_assign_requests_to_connections` walks every
connection and every queued request on each request and each release), so kit.http's client
was chosen by this measurement, not by taste.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.figures import fmt, ratio
from flashsale.runtime.nats_server import free_port, wait_for_port

POOL = 200  # kit.http's connection limit per dependency
BODY = {"productId": "PS5", "quantity": 1}
Call = Callable[[], Awaitable[None]]


async def _drive(make_call: Callable[[], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]],
                 callers: int, seconds: float) -> dict[str, float]:
    call, close = await make_call()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    await call()  # a connection up before the clock starts
    cpu_before = _cpu_s()
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - started
    cpu = _cpu_s() - cpu_before
    await close()
    latencies.sort()
    return {"calls": len(latencies), "seconds": elapsed, "cpu_s": cpu,
            "p50_ms": latencies[len(latencies) // 2] * 1000, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _httpx(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=1.0),
                               limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=100))

    async def call() -> None:
        answer = await client.post(url, json=BODY)
        answer.json()

    return call, client.aclose


async def _aiohttp(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL),
                                    timeout=aiohttp.ClientTimeout(total=10.0, sock_connect=1.0))

    async def call() -> None:
        async with session.post(url, json=BODY) as answer:
            await answer.json()

    return call, session.close


async def _kit(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from flashsale.kit.http import ServiceClient

    base, path = url.rsplit("/", 1)
    client = ServiceClient("hello", [base])

    async def call() -> None:
        answer = await client.request("POST", f"/{path}", json=BODY, idempotent=False)
        answer.json()

    return call, client.close


CLIENTS: dict[str, Callable[[str], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]] = {
    "httpx": _httpx, "aiohttp": _aiohttp, "kit": _kit,
}


def _run_child(client: str, url: str, callers: int, seconds: float) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.http_clients", "--child", client, "--url", url,
         "--callers", str(callers), "--seconds", str(seconds)],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def section(clients: list[str], callers: int, seconds: float, rounds: int) -> str:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(Path(__file__).parent / "hello.py"), str(port)])
    try:
        wait_for_port(port, 20.0)
        url = f"http://127.0.0.1:{port}/hello"
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
        for _ in range(rounds):
            for name in clients:
                runs[name].append(_run_child(name, url, callers, seconds))
    finally:
        server.terminate()
        server.wait(10)
    return _table(runs, callers, seconds)


def _table(runs: dict[str, list[dict[str, float]]], callers: int, seconds: float) -> str:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    def rate(name: str) -> float:
        return statistics.median(r["calls"] / r["seconds"] for r in runs[name])

    def cpu_us(name: str) -> float:
        return statistics.median(r["cpu_s"] / r["calls"] * 1e6 for r in runs[name])

    first = next(iter(runs))
    lines = [f"Internal calls through one pooled client ({POOL} connections), {callers} callers, "
             f"{seconds:g} s rounds, median of {len(runs[first])}:", "",
             f"| client | calls/s | x {first} | client CPU us/call | x {first} | p50 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in runs:
        lines.append(f"| {name} | {fmt(rate(name))} | {ratio(rate(name), rate(first))} | {fmt(cpu_us(name))} "
                     f"| {ratio(cpu_us(name), cpu_us(first))} | {median(name, 'p50_ms'):.1f} "
                     f"| {median(name, 'p99_ms'):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="httpx,aiohttp,kit")
    parser.add_argument("--callers", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=sorted(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import uvloop

        uvloop.install()  # the services' loop
        print(json.dumps(asyncio.run(_drive(lambda: CLIENTS[args.child](args.url), args.callers, args.seconds))))
        return
    print(section(args.clients.split(","), args.callers, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
