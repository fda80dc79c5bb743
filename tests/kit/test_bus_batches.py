"""A subscription with a batch handler gets each fetched batch at once and acks it after; a batch
that fails goes through one message at a time, so only a poison message is dead-lettered."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from flashsale.kit.bus import Bus, Subscription
from flashsale.kit.deadletters import list_dead_letters
from flashsale.kit.envelope import Envelope
from kit.bus_support import event, publish, run, unacked, until

pytestmark = pytest.mark.service


async def test_a_batch_is_handled_at_once_and_acked(bus: Bus, nats_url: str) -> None:
    producer, consumer = f"p{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    batches: list[list[str]] = []
    one_by_one: list[str] = []

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        batches.append([e.data["name"] for e in envelopes])

    async def handle(envelope: Envelope) -> None:
        one_by_one.append(envelope.data["name"])

    names = [f"n{i}" for i in range(30)]
    await publish(bus, producer, [event(producer, n) for n in names])
    subscription = Subscription(consumer, producer, ["ThingHappened"], handle, batch_handler=handle_batch)

    async def all_acked() -> bool:
        return sum(len(b) for b in batches) == 30 and await unacked(nats_url, producer, consumer) == 0

    await run(bus, subscription, all_acked)

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

    events = await publish(bus, producer, [event(producer, n) for n in ("first", "poison", "last")])
    subscription = Subscription(consumer, producer, ["ThingHappened"], handle, max_deliver=3,
                                batch_handler=handle_batch)

    async def dead_lettered() -> bool:
        return any(d.consumer == consumer for d in await list_dead_letters(nats_url))

    await run(bus, subscription, dead_lettered)

    [letter] = [d for d in await list_dead_letters(nats_url) if d.consumer == consumer]
    assert letter.event_id == events[1].id
    assert one_by_one == ["first", "last"]
    await until(lambda: _no_backlog(nats_url, producer, consumer))


async def _no_backlog(nats_url: str, producer: str, consumer: str) -> bool:
    return await unacked(nats_url, producer, consumer) == 0
