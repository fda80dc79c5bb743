"""A small HTTP/1.1 keep-alive load generator: several processes, each an asyncio loop of connections.

Written by hand because the Python HTTP clients spend more CPU per request than the server we
measure (httpx tops out near 2-3k requests/s per process here), which would make the client the
bottleneck. It speaks exactly what we need: POST/GET with a JSON body, Content-Length responses.
Its pieces serve the other client-side benches too: `Connection`, one keep-alive connection that
answers each request (bench/buyers.py), and `run_processes`, client processes started together.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
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


# -- HTTP/1.1 on a raw stream ------------------------------------------------------------------

class ServerClosed(Exception):
    """The server closed the connection before answering."""


def request_bytes(method: str, host: str, path: str, body: bytes, key: str | None = None,
                  headers: dict[str, str] | None = None) -> bytes:
    """One request with a JSON body (and an Idempotency-Key and further headers when given)."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    extra += f"Idempotency-Key: {key}\r\n" if key else ""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of the next response (Content-Length framed)."""
    status_line = await reader.readline()
    if not status_line:
        raise ServerClosed
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return int(status_line.split()[1]), await reader.readexactly(length)


class Connection:
    """One keep-alive HTTP/1.1 connection to one service instance (JSON in, JSON out), sending
    `headers` with every request (a signed-in buyer's token and client address, say)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.netloc = parts.netloc
        self.headers = headers
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def call(self, method: str, path: str, body: bytes = b"", key: str | None = None) -> tuple[int, bytes]:
        """Status and body. A kept-alive connection the server closed while it was idle (its
        keep-alive timeout) is opened again and the request sent once more, as HTTP clients do:
        nothing was answered on it, and every POST here carries an Idempotency-Key."""
        request = request_bytes(method, self.netloc, path, body, key, self.headers)
        reused = self._writer is not None
        try:
            return await self._exchange(request)
        except (ConnectionError, ServerClosed):
            self.close()
            if not reused:
                raise
        except (OSError, IndexError, ValueError, asyncio.IncompleteReadError):
            self.close()  # the next call opens a fresh connection
            raise
        try:
            return await self._exchange(request)
        except (OSError, IndexError, ValueError, asyncio.IncompleteReadError, ServerClosed):
            self.close()
            raise

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(request)
        return await read_response(self._reader)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


# -- the load generator ------------------------------------------------------------------------

async def _connection(host: str, port: int, request: bytes, until: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            status, _ = await read_response(reader)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.requests += 1
    finally:
        writer.close()


def _worker(url: str, method: str, body: bytes, connections: int, duration_s: float, start_at: float,
            out: mp.Queue) -> None:  # type: ignore[type-arg]
    import uvloop

    parts = urlsplit(url)
    request = request_bytes(method, parts.netloc, parts.path, body)
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


def spread(count: int, parts: int) -> list[int]:
    """`count` shared out over `parts`, the first ones taking one more where it does not divide."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


def run_processes(target: Callable[..., None], arguments: list[tuple[Any, ...]], timeout_s: float) -> list[Any]:
    """One spawned client process per entry of `arguments`, running `target(*entry, queue)`; what
    each puts on the queue, in the order they arrive (each awaited up to `timeout_s`)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=target, args=(*entry, queue)) for entry in arguments]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=timeout_s) for _ in workers]
    for worker in workers:
        worker.join(10)
    return results


def run_load(url: str | list[str], *, method: str = "POST", body: bytes = b"", concurrency: int, duration_s: float,
             processes: int = 2) -> LoadResult:
    """`concurrency` connections spread over `processes` client processes, for `duration_s`; given
    several URLs (instances of one service), the processes take them in turn."""
    urls = [url] if isinstance(url, str) else url
    processes = max(1, min(max(processes, len(urls)), concurrency))
    start_at = time.time() + 1.0  # let every process get ready, then start together
    arguments = [(urls[i % len(urls)], method, body, n, duration_s, start_at)
                 for i, n in enumerate(spread(concurrency, processes))]
    total = LoadResult()
    for result in run_processes(_worker, arguments, duration_s + 60):
        total.merge(result)
    return total
