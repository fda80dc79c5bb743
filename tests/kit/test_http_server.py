"""The services' HTTP server protocol (kit/http_server.py) on a real uvicorn server over loopback
TCP, with uvloop as in a service process: writes held until the end of the loop's turn still
reach the caller whole, in order, and as they are sent: a response before `Connection: close`, two
pipelined requests' answers, and a streamed body's chunks while the stream waits between them."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
import uvloop

from flashsale.kit.http_server import OneWriteHttpProtocol

SECOND_CHUNK_WANTED = threading.Event()  # the streaming app waits for it between its two chunks
DEADLINE_S = 10.0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first;", "more_body": True})
        await asyncio.to_thread(SECOND_CHUNK_WANTED.wait, DEADLINE_S)  # set once the caller read the first
        await send({"type": "http.response.body", "body": b"second;"})
        return
    body = f'{{"path": "{scope["path"]}"}}'.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=OneWriteHttpProtocol, loop="none",
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: uvloop.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)  # polling its flag, with a deadline
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(10)


def _read_until(conn: socket.socket, wanted: bytes) -> bytes:
    read = b""
    while wanted not in read:
        chunk = conn.recv(65536)
        if not chunk:
            break
        read += chunk
    return read


def test_an_answer_before_connection_close_arrives_whole(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S) as conn:
        conn.sendall(b"GET /closing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        read = b""
        while chunk := conn.recv(65536):  # the server closes after answering: read to the end
            read += chunk

    head, _, body = read.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b'{"path": "/closing"}'


def test_pipelined_requests_are_answered_whole_and_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S) as conn:
        conn.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        read = _read_until(conn, b'{"path": "/two"}')

    assert read.count(b"HTTP/1.1 200") == 2
    assert read.index(b'{"path": "/one"}') < read.index(b'{"path": "/two"}')


def test_a_streamed_body_is_sent_as_it_comes_not_held_until_it_ends(port: int) -> None:
    SECOND_CHUNK_WANTED.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S) as conn:
        conn.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        before = _read_until(conn, b"first;")  # times out (fails) if the first chunk were held back
        SECOND_CHUNK_WANTED.set()
        after = _read_until(conn, b"second;")

    assert b"first;" in before and b"second;" not in before
    assert b"second;" in after
