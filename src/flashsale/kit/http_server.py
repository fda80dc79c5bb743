"""The HTTP server's protocol: uvicorn's (httptools), with a response's head and body sent in one write.

uvicorn writes a response's status line and headers when the app sends `http.response.start`,
and its body when the app sends `http.response.body`: two writes, so two TCP segments on a
socket without Nagle's delay, and a caller that wakes up for the head and again for the body.
Every answer in the house is a small JSON body sent right after its head, so this protocol holds
each write back until the next one or the end of the event loop's turn, whichever comes first,
and sends what it held in one. Measured (aiohttp calling a server that answers 274 bytes, one
process each, alternating): ~30 us less CPU for the caller and ~10 us less for the server per
answer, out of ~150 and ~55.

A write is held back for at most the rest of the loop's turn: a streamed body's chunks, sent
with awaits between them, still leave one by one, and nothing is held across a wait.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneWritePerTurn:
    """A transport that joins the writes made within one turn of the event loop into one."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self._send_held)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _send_held(self) -> None:
        if not self._held:
            return
        held, self._held = self._held, []
        # A peer gone within the turn (the transport closed under us) is sent nothing: uvloop
        # raises on a write to a closed transport, where uvicorn checks before it writes.
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def write_eof(self) -> None:
        self._send_held()
        self._transport.write_eof()

    def close(self) -> None:
        self._send_held()  # a response followed by `Connection: close` still goes out whole
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(part) for part in self._held)

    def __getattr__(self, name: str) -> Any:  # reading, extra info, flow control: the transport's own
        return getattr(self._transport, name)


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `OneWritePerTurn` transport (uvicorn.run's `http`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWritePerTurn(transport, asyncio.get_running_loop()))  # type: ignore[arg-type]
