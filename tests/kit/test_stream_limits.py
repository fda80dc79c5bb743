"""What the streams keep: a week of events and a month of dead letters by default, and a stream
full by size refuses new events instead of dropping old ones a consumer may still need."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from flashsale.kit.bus import DLQ_STREAM, Bus, StreamLimits
from flashsale.kit.envelope import stream_name
from flashsale.kit.errors import BrokerUnavailable

pytestmark = pytest.mark.service


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def test_a_new_event_stream_and_the_dead_letters_get_their_limits(bus: Bus, js: nats.js.JetStreamContext) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"

    config = (await js.stream_info(await bus.ensure_stream(producer))).config
    await bus.ensure_dead_letters()
    dead_letters = (await js.stream_info(DLQ_STREAM)).config

    limits = StreamLimits()
    assert (config.max_age, config.max_bytes, config.discard) == (limits.max_age_s, limits.max_bytes, DiscardPolicy.NEW)
    assert dead_letters.max_age is not None and dead_letters.max_age >= limits.dlq_max_age_s


async def test_a_stream_made_without_limits_gets_them_and_an_operators_limits_stay(
    bus: Bus, js: nats.js.JetStreamContext,
) -> None:
    unlimited, chosen = f"p{uuid.uuid4().hex[:8]}", f"p{uuid.uuid4().hex[:8]}"
    for producer, max_age in ((unlimited, None), (chosen, 3600.0)):
        await js.add_stream(StreamConfig(name=stream_name(producer), subjects=[f"{producer}.>"],
                                         storage=StorageType.FILE, max_age=max_age))

    await bus.ensure_stream(unlimited)
    await bus.ensure_stream(chosen)

    assert (await js.stream_info(stream_name(unlimited))).config.max_age == StreamLimits().max_age_s
    assert (await js.stream_info(stream_name(chosen))).config.max_age == 3600.0


async def test_a_full_stream_refuses_new_events_and_keeps_the_old_ones(
    nats_url: str, js: nats.js.JetStreamContext,
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    small = Bus(nats_url, name="limits-test", limits=StreamLimits(max_bytes=4096))
    await small.connect(attempts=20)
    try:
        stored: list[str] = []
        with pytest.raises(BrokerUnavailable):
            for _ in range(100):
                event_id = str(uuid.uuid4())
                await small.publish_batch(producer, [(f"{producer}.ThingHappened", event_id, b"x" * 200)])
                stored.append(event_id)
        state = (await js.stream_info(stream_name(producer))).state
        assert 0 < len(stored) < 100
        assert (state.first_seq, state.messages) == (1, len(stored))  # the first is still there
    finally:
        await small.close()
