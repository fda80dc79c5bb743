"""Pulling from a durable consumer (kit/pulling.py): a backlog comes in bounded batches, in order,
and pullers sharing one durable (a service's instances) get every message exactly once. How soon
a lone message is handed over is a figure of `python -m bench.delivery`, not a test."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from flashsale.kit.pulling import MOST_AT_ONCE, fetch_arrived, fetch_gathered

pytestmark = pytest.mark.service


@pytest.fixture
async def connections(nats_url: str) -> AsyncIterator[list[NatsClient]]:
    opened = [await nats.connect(nats_url) for _ in range(3)]
    yield opened
    for nc in opened:
        await nc.close()


async def _stream(nc: NatsClient) -> str:
    subject = f"pull{uuid.uuid4().hex[:8]}"
    await nc.jetstream().add_stream(name=subject.upper(), subjects=[f"{subject}.>"])
    return subject


async def _publish(js: JetStreamContext, subject: str, names: list[str]) -> None:
    for name in names:
        await js.publish(f"{subject}.x", name.encode())


async def test_a_backlog_comes_in_bounded_batches_in_publish_order(connections: list[NatsClient]) -> None:
    subject = await _stream(connections[0])
    names = [f"m{i}" for i in range(2 * MOST_AT_ONCE + 50)]
    await _publish(connections[0].jetstream(), subject, names)
    psub = await connections[1].jetstream().pull_subscribe(f"{subject}.>", durable="d")

    batches: list[list[str]] = []
    while sum(len(b) for b in batches) < len(names):
        msgs = await fetch_arrived(psub)
        batches.append([m.data.decode() for m in msgs])
        for m in msgs:
            await m.ack()

    assert [len(b) for b in batches] == [MOST_AT_ONCE, MOST_AT_ONCE, 50]
    assert [name for batch in batches for name in batch] == names


async def test_a_gathering_pull_hands_over_what_arrived_within_its_moment_as_one_batch(
    connections: list[NatsClient],
) -> None:
    subject = await _stream(connections[0])
    js = connections[0].jetstream()
    psub = await connections[1].jetstream().pull_subscribe(f"{subject}.>", durable="d")
    await _publish(js, subject, ["first"])

    gathering = asyncio.create_task(fetch_gathered(psub, gather_s=1.0))
    await _publish(js, subject, ["second", "third"])  # while the pull gathers (or before it began)
    batch = await gathering
    await _publish(js, subject, ["fourth"])
    alone = await fetch_gathered(psub, gather_s=0)  # without a moment to gather: as it arrives

    assert [m.data.decode() for m in batch] == ["first", "second", "third"]
    assert [m.data.decode() for m in alone] == ["fourth"]


async def test_pullers_sharing_a_durable_get_every_message_exactly_once(connections: list[NatsClient]) -> None:
    subject = await _stream(connections[0])
    names = [f"m{i}" for i in range(600)]
    received: Counter[str] = Counter()
    all_in = asyncio.Event()

    async def puller(nc: NatsClient) -> None:
        psub = await nc.jetstream().pull_subscribe(f"{subject}.>", durable="shared")
        while True:
            try:
                msgs = await fetch_arrived(psub)
            except TimeoutError:
                continue
            for m in msgs:
                received[m.data.decode()] += 1
                await m.ack()
            if received.total() >= len(names):
                all_in.set()

    pullers = [asyncio.create_task(puller(nc)) for nc in connections[1:]]
    try:
        # In bursts while both pull, so that each often finds messages counted as pending that
        # the other has taken.
        for start in range(0, len(names), 7):
            await _publish(connections[0].jetstream(), subject, names[start:start + 7])
            await asyncio.sleep(0)
        await asyncio.wait_for(all_in.wait(), 30)
    finally:
        for task in pullers:
            task.cancel()
        await asyncio.gather(*pullers, return_exceptions=True)

    assert set(received) == set(names)
    assert all(count == 1 for count in received.values())
