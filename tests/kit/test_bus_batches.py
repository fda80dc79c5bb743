"""A subscription with a batch handler gets each fetched batch at once and acks it after; a batch
that fails goes through one message at a time, so only a poison message is dead-lettered."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import nats
import pytest

from flashsale.kit.bus import Bus, Subscription
from flashsale.kit.clock import SystemClock
from flashsale.kit.deadletters import list_dead_letters
from flashsale.kit.envelope import Envelope, nats_subject, stream_name

pytestmark = pytest.mark.service


def _event(producer: str, name: str) -> Envelope:
    return Envelope.new(source=producer, type="ThingHappened", subject=name, data={"name": name},
                        now_ms=SystemClock().now_ms())


async def _until(probe: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError("deadline passed")
        await asyncio.sleep(0.05)


async def _unacked(nats_url: str, producer: str, consumer: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(stream_name(producer), consumer)
        return int(info.num_ack_pending) + int(info.num_pending)
    finally:
        await nc.close()


async def _run(bus: Bus, subscription: Subscription, until: Callable[[], Awaitable[bool]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run_subscription(subscription, stop))
    try:
        await _until(until)
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _publish(bus: Bus, producer: str, names: Sequence[str]) -> list[Envelope]:
    events = [_event(producer, n) for n in names]
    await bus.publish_batch(producer, [(nats_subject(producer, e.type), e.id, e.to_bytes()) for e in events])
    return events


async def test_a_batch_is_handled_at_once_and_acked(bus: Bus, nats_url: str) -> None:
    producer, consumer = f"p{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    batches: list[list[str]] = []
    one_by_one: list[str] = []

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        batches.append([e.data["name"] for e in envelopes])

    async def handle(envelope: Envelope) -> None:
        one_by_one.append(envelope.data["name"])

    names = [f"n{i}" for i in range(30)]
    await _publish(bus, producer, names)
    subscription = Subscription(consumer, producer, ["ThingHappened"], handle, batch_handler=handle_batch)

    async def all_acked() -> bool:
        return sum(len(b) for b in batches) == 30 and await _unacked(nats_url, producer, consumer) == 0

    await _run(bus, subscription, all_acked)

    assert [name for batch in batches for name in batch] == names
    assert len(batches) < 30 and one_by_one == []


async def test_a_failed_batch_goes_one_by_one_and_only_the_poison_is_dead_lettered(bus: Bus, nats_url: str) -> None:
    producer, consumer = f"p{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    one_by_one: list[str] = []

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        if any(e.data["name"] == "poison" for e in envelopes):
            raise ValueError("one of these cannot be handled")

    async def handle(envelope: Envelope) -> None:
        if envelope.data["name"] == "poison":
            raise ValueError("cannot handle this one")
        one_by_one.append(envelope.data["name"])

    events = await _publish(bus, producer, ["first", "poison", "last"])
    subscription = Subscription(consumer, producer, ["ThingHappened"], handle, max_deliver=3,
                                batch_handler=handle_batch)

    async def dead_lettered() -> bool:
        return any(d.consumer == consumer for d in await list_dead_letters(nats_url))

    await _run(bus, subscription, dead_lettered)

    [letter] = [d for d in await list_dead_letters(nats_url) if d.consumer == consumer]
    assert letter.event_id == events[1].id
    assert one_by_one == ["first", "last"]
    await _until(lambda: _no_backlog(nats_url, producer, consumer))


async def _no_backlog(nats_url: str, producer: str, consumer: str) -> bool:
    return await _unacked(nats_url, producer, consumer) == 0
