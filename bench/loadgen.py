"""A small HTTP/1.1 keep-alive load generator: several processes, each an asyncio loop of connections.

Written by hand because the Python HTTP clients spend more CPU per request than the server we
measure (httpx tops out near 2-3k requests/s per process here), which would make the client the
bottleneck. It speaks exactly what we need: POST/GET with a JSON body, Content-Length responses.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    # Percentiles a generator reports itself (wrk) instead of every latency.
    p50_s: float | None = None
    p99_s: float | None = None

    def percentile(self, q: float) -> float:
        given = {50: self.p50_s, 99: self.p99_s}.get(int(q))
        if given is not None:
            return given
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")

    def merge(self, other: LoadResult) -> None:
        self.requests += other.requests
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.latencies.extend(other.latencies)
        self.seconds = max(self.seconds, other.seconds)


def _request_bytes(method: str, host: str, path: str, body: bytes) -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _connection(host: str, port: int, request: bytes, until: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.requests += 1
    finally:
        writer.close()


def _worker(url: str, method: str, body: bytes, connections: int, duration_s: float, start_at: float,
            out: mp.Queue) -> None:  # type: ignore[type-arg]
    import uvloop

    parts = urlsplit(url)
    request = _request_bytes(method, parts.netloc, parts.path, body)
    result = LoadResult()

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.perf_counter()
        until = began + duration_s
        await asyncio.gather(*(_connection(parts.hostname or "127.0.0.1", parts.port or 80, request, until, result)
                               for _ in range(connections)))
        result.seconds = time.perf_counter() - began

    uvloop.run(main())
    out.put(result)


def run_load(url: str | list[str], *, method: str = "POST", body: bytes = b"", concurrency: int, duration_s: float,
             processes: int = 2) -> LoadResult:
    """`concurrency` connections spread over `processes` client processes, for `duration_s`; given
    several URLs (instances of one service), the processes take them in turn."""
    urls = [url] if isinstance(url, str) else url
    processes = max(1, min(max(processes, len(urls)), concurrency))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 1.0  # let every process get ready, then start together
    shares = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    workers = [ctx.Process(target=_worker, args=(urls[i % len(urls)], method, body, n, duration_s, start_at, queue))
               for i, n in enumerate(shares)]
    for w in workers:
        w.start()
    total = LoadResult()
    for _ in workers:
        total.merge(queue.get(timeout=duration_s + 60))
    for w in workers:
        w.join(10)
    return total
