"""Small ASGI pieces shared by middlewares that read a request's body before the app does."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")


async def read_body(receive: Receive) -> bytes | None:
    """The request's whole body, or None when the client went away before it finished sending.
    Unbounded: a caller reads only a body whose declared length it has checked (`declared_length`)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (`name` in lower case, as ASGI gives names)."""
    return next((value for key, value in scope["headers"] if key == name), None)


def declared_length(scope: Scope) -> int | None:
    """The body's length as Content-Length declares it; None when it declares none (chunked) or
    a malformed one (the server refuses that itself)."""
    value = header(scope, b"content-length")
    return int(value) if value is not None and value.isdigit() else None


def is_json(scope: Scope) -> bool:
    content_type = header(scope, b"content-type")
    return content_type is not None and content_type.lower() in JSON_TYPES


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read as one message, then whatever the client sends
    next (its disconnect), so the app behind a body-reading middleware sees the request intact."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def send_json(send: Send, body: bytes, *, status: int = 200) -> None:
    """An answer with a JSON body: the two messages a Starlette `Response` sends, with the same
    headers in the same order, without building the response object for each answer."""
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
