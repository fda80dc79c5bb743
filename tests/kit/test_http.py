"""The kit's outbound client against real HTTP servers on loopback: slow is not dead (a dependency
that answers 503s or answers late keeps its circuit closed and every caller gets its own answer),
while one that cannot be reached opens it and callers are refused at once."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest

from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.http import ServiceClient

THRESHOLD = 3


@contextlib.asynccontextmanager
async def server(status: int, delay_s: float = 0.0) -> AsyncIterator[str]:
    """An HTTP server answering every request with `status` after `delay_s`."""

    connections: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[object]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(delay_s)
                body = b'{"code": "busy"}'
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        writer.close()

    listening = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listening.close()
        for writer in connections:
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await listening.wait_closed()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def test_a_dependency_answering_503s_keeps_its_circuit_closed_and_each_caller_gets_the_answer() -> None:
    async with server(503) as url:
        client = ServiceClient("busy", [url], attempts=1, breaker_threshold=THRESHOLD)
        try:
            answers = [await _refusal(client) for _ in range(THRESHOLD * 2)]
        finally:
            await client.close()

    assert answers == ["answered 503"] * THRESHOLD * 2


async def test_a_slow_dependency_keeps_its_circuit_closed() -> None:
    async with server(200, delay_s=0.3) as url:
        client = ServiceClient("slow", [url], attempts=1, timeout_s=0.1, breaker_threshold=THRESHOLD)
        try:
            late = [await _refusal(client) for _ in range(THRESHOLD * 2)]
            answered = await client.request("POST", "/x", timeout_s=2.0)
        finally:
            await client.close()

    assert all("timed out" in reason for reason in late), late
    assert answered.status_code == 200


async def test_an_unreachable_dependency_opens_its_circuit_and_callers_are_refused_at_once() -> None:
    client = ServiceClient("gone", [closed_port()], attempts=1, breaker_threshold=THRESHOLD)
    try:
        first = [await _refusal(client) for _ in range(THRESHOLD)]
        started = time.perf_counter()
        then = await _refusal(client)
    finally:
        await client.close()

    assert all("unreachable" in reason for reason in first), first
    assert then == "circuit open" and time.perf_counter() - started < 0.05


async def _refusal(client: ServiceClient) -> str:
    with pytest.raises(DependencyUnavailable) as refused:
        await client.request("POST", "/x")
    return refused.value.reason
