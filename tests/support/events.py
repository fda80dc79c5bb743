"""Events put on the session's real NATS as a producer's relay puts them: on the producer's stream,
subject `<producer>.<EventType>`, with `Nats-Msg-Id` for the broker's duplicate window."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from flashsale.kit.bus import Bus
from flashsale.kit.envelope import Envelope, nats_subject
from support.ids import unique

# (producer, envelope, Nats-Msg-Id): the event's own id is what a relay sends; another id makes
# the stream keep a second copy, as a relay's replay after the duplicate window would.
Message = tuple[str, Envelope, str]


def publish(nats_url: str, producer: str, *envelopes: Envelope) -> None:
    """Each envelope in order, under its own id, as the producer's relay sends it."""
    publish_messages(nats_url, [(producer, envelope, envelope.id) for envelope in envelopes])


def publish_messages(nats_url: str, messages: Sequence[Message], *, concurrently: bool = False) -> None:
    """Each message in order (or all at once, `concurrently`), under the message id it names."""
    asyncio.run(_publish(nats_url, messages, concurrently=concurrently))


async def _publish(nats_url: str, messages: Sequence[Message], *, concurrently: bool) -> None:
    bus = Bus(nats_url, name=unique("test-publisher"))
    await bus.connect(attempts=20)
    try:
        for producer in dict.fromkeys(producer for producer, _, _ in messages):
            await bus.ensure_stream(producer)
        sends = [bus.publish_raw(nats_subject(producer, envelope.type), envelope.to_bytes(), {"Nats-Msg-Id": msg_id})
                 for producer, envelope, msg_id in messages]
        if concurrently:
            await asyncio.gather(*sends)
        else:
            for send in sends:
                await send
    finally:
        await bus.close()
