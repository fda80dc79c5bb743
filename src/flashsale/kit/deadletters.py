"""The dead-letter stream, for operators: list what gave up, and replay it once the cause is fixed.

A message lands here (stream `DLQ`, subject `dlq.<consumer>`) after its bounded redeliveries,
with the error, the original subject and the consumer in its headers (see `bus.py`). Replaying
publishes it again on its original subject, with a fresh `Nats-Msg-Id` (the stream would drop the
old one as a duplicate inside its window) but the same event id inside: every consumer's inbox
already knows that id, so only a consumer that never applied the event applies it now. The
replayed message is then removed from the dead-letter stream.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import nats
import nats.js.errors
from nats.js.api import RawStreamMsg

from flashsale.kit.bus import DLQ_STREAM
from flashsale.kit.envelope import Envelope


@dataclass(frozen=True)
class DeadLetter:
    id: int  # the DLQ stream sequence: what `replay` takes
    consumer: str
    subject: str
    error: str
    event_id: str | None
    event_type: str | None
    event_time: str | None
    payload: bytes


def _dead_letter(msg: RawStreamMsg) -> DeadLetter:
    headers = msg.headers or {}
    try:
        envelope: Envelope | None = Envelope.from_bytes(msg.data or b"")
    except ValueError:
        envelope = None  # undecodable: that is why it is here
    return DeadLetter(
        id=int(msg.seq or 0),
        consumer=headers.get("Flashsale-Consumer", ""),
        subject=headers.get("Flashsale-Original-Subject", ""),
        error=headers.get("Flashsale-Error", ""),
        event_id=envelope.id if envelope else None,
        event_type=envelope.type if envelope else None,
        event_time=envelope.time if envelope else None,
        payload=msg.data or b"",
    )


async def list_dead_letters(broker_url: str, *, limit: int = 1000) -> list[DeadLetter]:
    nc = await nats.connect(broker_url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        found: list[DeadLetter] = []
        seq = 1
        while len(found) < limit:
            try:
                msg = await js.get_msg(DLQ_STREAM, seq=seq, subject="dlq.>", next=True)
            except nats.js.errors.NotFoundError:
                break  # no stream yet, or nothing after `seq`
            found.append(_dead_letter(msg))
            seq = int(msg.seq or seq) + 1
        return found
    finally:
        await nc.close()


async def recent_dead_letters(broker_url: str, *, limit: int = 5) -> tuple[int, list[DeadLetter]]:
    """How many dead letters there are, and the `limit` most recent, newest first (a dashboard's
    view: it reads back from the stream's end instead of walking the whole stream)."""
    nc = await nats.connect(broker_url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        try:
            state = (await js.stream_info(DLQ_STREAM)).state
        except nats.js.errors.NotFoundError:
            return 0, []  # nothing was ever dead-lettered on this broker
        found: list[DeadLetter] = []
        seq = int(state.last_seq or 0)
        first = max(int(state.first_seq or 1), seq - limit * 20)  # a bound on the gaps replays leave
        while seq >= first and len(found) < min(limit, int(state.messages or 0)):
            with contextlib.suppress(nats.js.errors.NotFoundError):  # replayed (deleted) since
                found.append(_dead_letter(await js.get_msg(DLQ_STREAM, seq=seq)))
            seq -= 1
        return int(state.messages or 0), found
    finally:
        await nc.close()


async def replay_dead_letter(broker_url: str, dead_letter_id: int) -> DeadLetter:
    """Publish the dead letter again on its original subject, then drop it from the DLQ.

    Raises LookupError when there is no such dead letter."""
    nc = await nats.connect(broker_url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        try:
            letter = _dead_letter(await js.get_msg(DLQ_STREAM, seq=dead_letter_id))
        except nats.js.errors.NotFoundError as exc:
            raise LookupError(f"no dead letter {dead_letter_id}") from exc
        if not letter.subject:
            raise LookupError(f"dead letter {dead_letter_id} does not say where it came from")
        msg_id = f"{letter.event_id or 'undecodable'}-replay-{dead_letter_id}"
        await js.publish(letter.subject, letter.payload, headers={"Nats-Msg-Id": msg_id})
        await js.delete_msg(DLQ_STREAM, dead_letter_id)
        return letter
    finally:
        await nc.close()
