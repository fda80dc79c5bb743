"""A subscription with `concurrency` handles different subjects' events side by side and each
subject's events in the order they were published."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from flashsale.kit.bus import Bus, Subscription
from flashsale.kit.deadletters import list_dead_letters
from flashsale.kit.envelope import Envelope, nats_subject
from kit.bus_support import event, publish, run, unacked

pytestmark = pytest.mark.service


def _names() -> tuple[str, str]:
    return f"p{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"


async def test_a_subject_whose_handler_waits_does_not_hold_up_the_others(bus: Bus, nats_url: str) -> None:
    producer, consumer = _names()
    others = [f"order-{i}" for i in range(8)]
    others_done = asyncio.Event()
    handled: list[str] = []

    async def handle(envelope: Envelope) -> None:
        if envelope.subject == "stuck-order":
            # Waits for every other order's event: handled one at a time, this never returns.
            await others_done.wait()
        handled.append(envelope.subject)
        if set(others) <= set(handled):
            others_done.set()

    await publish(bus, producer, [event(producer, n) for n in ["stuck-order", *others]])
    subscription = Subscription(consumer, producer, ["ThingHappened"], handle, concurrency=4)

    async def all_acked() -> bool:
        return len(handled) == 9 and await unacked(nats_url, producer, consumer) == 0

    await run(bus, subscription, all_acked)

    assert handled[-1] == "stuck-order"
    assert sorted(handled[:-1]) == sorted(others)


async def test_each_subjects_events_are_handled_in_the_order_they_were_published(bus: Bus, nats_url: str) -> None:
    producer, consumer = _names()
    # Two orders' events interleaved; the earlier an event, the longer its handler takes, so a
    # subject's events handled side by side would finish in reverse.
    published = [event(producer, f"{order}-{step}", subject=order) for step in range(5) for order in ("a", "b")]
    handled: list[str] = []

    async def handle(envelope: Envelope) -> None:
        step = int(envelope.data["name"].split("-")[1])
        await asyncio.sleep(0.02 * (5 - step))  # the work, not a wait for anything
        handled.append(envelope.data["name"])

    await publish(bus, producer, published)
    subscription = Subscription(consumer, producer, ["ThingHappened"], handle, concurrency=8)

    async def all_acked() -> bool:
        return len(handled) == 10 and await unacked(nats_url, producer, consumer) == 0

    await run(bus, subscription, all_acked)

    for order in ("a", "b"):
        assert [n for n in handled if n.startswith(order)] == [f"{order}-{step}" for step in range(5)]


async def test_an_undecodable_message_among_lanes_is_dead_lettered_and_the_rest_handled(
    bus: Bus, nats_url: str
) -> None:
    producer, consumer = _names()
    handled: list[str] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope.subject)

    await publish(bus, producer, [event(producer, "order-1")])
    await bus.publish_raw(nats_subject(producer, "ThingHappened"), b"{not an envelope", {})
    await publish(bus, producer, [event(producer, "order-2")])
    subscription = Subscription(consumer, producer, ["ThingHappened"], handle, concurrency=4)

    async def settled() -> bool:
        letters = [d for d in await list_dead_letters(nats_url) if d.consumer == consumer]
        return len(handled) == 2 and len(letters) == 1 and await unacked(nats_url, producer, consumer) == 0

    await run(bus, subscription, settled)

    assert sorted(handled) == ["order-1", "order-2"]
