"""Driving one subscription of the real bus from a test: publish events, run it until a probe
holds, ask the broker what is still unacknowledged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import nats

from flashsale.kit.bus import Bus, Subscription
from flashsale.kit.clock import SystemClock
from flashsale.kit.envelope import Envelope, nats_subject, stream_name


def event(producer: str, name: str, subject: str | None = None) -> Envelope:
    return Envelope.new(source=producer, type="ThingHappened", subject=subject or name, data={"name": name},
                        now_ms=SystemClock().now_ms())


async def until(probe: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError("deadline passed")
        await asyncio.sleep(0.05)


async def unacked(nats_url: str, producer: str, consumer: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(stream_name(producer), consumer)
        return int(info.num_ack_pending) + int(info.num_pending)
    finally:
        await nc.close()


async def run(bus: Bus, subscription: Subscription, done: Callable[[], Awaitable[bool]]) -> None:
    """Run `subscription` until `done()` holds (or fail at the deadline), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run_subscription(subscription, stop))
    try:
        await until(done)
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def publish(bus: Bus, producer: str, events: Sequence[Envelope]) -> list[Envelope]:
    await bus.publish_batch(producer, [(nats_subject(producer, e.type), e.id, e.to_bytes()) for e in events])
    return list(events)
