"""The kit's outbound client against real HTTP servers on loopback: slow is not dead (a dependency
that answers 503s or answers late keeps its circuit closed and every caller gets its own answer),
while one that cannot be reached opens it and callers are refused at once. A read (or a write the
caller marks idempotent) is tried again after a failure, with a wait between; any other write once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.http import ServiceClient

THRESHOLD = 3


@contextlib.asynccontextmanager
async def server(
    status: int, delay_s: float = 0.0, *, first: Sequence[int] = (), arrivals: list[float] | None = None,
) -> AsyncIterator[str]:
    """An HTTP server answering every request with `status` after `delay_s` (its first ones with
    `first`, in turn), noting when each arrived in `arrivals`."""
    answers = list(first)

    connections: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[object]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await reader.readuntil(b"\r\n\r\n"):
                if arrivals is not None:
                    arrivals.append(time.monotonic())
                answer_now = answers.pop(0) if answers else status
                await asyncio.sleep(delay_s)
                body = b'{"code": "busy"}'
                writer.write(f"HTTP/1.1 {answer_now} X\r\nContent-Type: application/json\r\n"
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


async def test_a_read_is_tried_again_after_a_wait_until_it_is_answered() -> None:
    arrivals: list[float] = []
    async with server(200, first=[503, 503], arrivals=arrivals) as url:
        client = ServiceClient("flaky", [url], attempts=3)
        try:
            answer = await client.request("GET", "/x")
        finally:
            await client.close()

    assert answer.status_code == 200
    assert len(arrivals) == 3
    assert all(later - earlier >= 0.05 for earlier, later in itertools.pairwise(arrivals)), arrivals


async def test_a_read_failing_every_attempt_is_refused_after_the_last() -> None:
    arrivals: list[float] = []
    async with server(503, arrivals=arrivals) as url:
        client = ServiceClient("down", [url], attempts=2)
        try:
            with pytest.raises(DependencyUnavailable) as refused:
                await client.request("GET", "/x")
        finally:
            await client.close()

    assert refused.value.reason == "answered 503"
    assert len(arrivals) == 2


async def test_a_write_is_tried_once_unless_the_caller_marks_it_idempotent() -> None:
    plain: list[float] = []
    keyed: list[float] = []
    async with server(200, first=[503], arrivals=plain) as url:
        client = ServiceClient("flaky", [url], attempts=3)
        try:
            refused = await _refusal(client)
        finally:
            await client.close()
    async with server(200, first=[503], arrivals=keyed) as url:
        client = ServiceClient("flaky", [url], attempts=3)
        try:
            answer = await client.request("POST", "/x", idempotent=True)
        finally:
            await client.close()

    assert (refused, len(plain)) == ("answered 503", 1)
    assert (answer.status_code, len(keyed)) == (200, 2)


async def _refusal(client: ServiceClient) -> str:
    with pytest.raises(DependencyUnavailable) as refused:
        await client.request("POST", "/x")
    return refused.value.reason
