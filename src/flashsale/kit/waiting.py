"""Waiting with a deadline without losing a cancellation.

Not `asyncio.wait_for`: on Python 3.11 it waits in a task of its own, and when the waiting task is
cancelled in the same turn of the loop as that task finishes, it returns the result and drops the
cancellation (CPython issue 86296; 3.12 rebuilt wait_for on `asyncio.timeout`). A loop that a
service stops by cancelling its task then runs on: the outbox relay, cancelled as a commit woke
it, ran another round and slept its poll interval out (1 stop in ~30 in a test that stops it
right after it publishes). `asyncio.timeout` waits in the task itself, so a cancellation is never
lost; every deadline in the services is one.
"""

from __future__ import annotations

import asyncio
import contextlib


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` has passed; whether it is set. The pause between
    a background loop's rounds, with `event` its stop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()
