"""Small ASGI pieces shared by middlewares that read a request's body before the app does."""

from __future__ import annotations

from starlette.types import Message, Receive


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
