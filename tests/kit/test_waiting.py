"""A wait with a deadline ends with the event, at the deadline, or with its task's cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from flashsale.kit.waiting import wait_set


async def test_a_wait_ends_when_the_event_is_set() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 30.0))
    await asyncio.sleep(0)  # it is waiting
    event.set()
    assert await asyncio.wait_for(waiting, 5.0) is True


async def test_a_wait_ends_at_its_deadline_without_the_event() -> None:
    started = time.monotonic()
    assert await wait_set(asyncio.Event(), 0.05) is False
    assert time.monotonic() - started >= 0.05


async def test_a_cancellation_in_the_turn_the_event_is_set_stops_the_waiting_task() -> None:
    """What asyncio.wait_for loses on Python 3.11: the event's waiter finishes first in the turn,
    and the cancellation that came with it must still reach the task."""
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 30.0))
    await asyncio.sleep(0)  # it is waiting
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
