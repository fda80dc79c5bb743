"""NATS JetStream: one stream per producing service, durable pull consumers per subscriber.

- Publishing sets `Nats-Msg-Id` to the event id, so a relay that publishes a row twice (it
  crashed before marking it) is deduplicated by the stream.
- A consumer acks only after its handler committed. A handler that raises is redelivered with
  backoff; after `max_deliver` attempts the message goes to the dead-letter stream
  (`dlq.<consumer>`) with the error in its headers, and is acked so the others keep flowing.
  An outage is not the message's fault: a handler that finds its own database (or the broker)
  unreachable keeps the message in hand and tries again until it is back, spending none of the
  message's attempts (a database restart must not send good events to the dead letters).
- A subscription takes each message as soon as it arrives and a backlog in batches (pulling.py).
- A subscription handles one message at a time by default. One whose events about different
  things commute (each order's events touch that order) sets `concurrency`: a fetched batch is
  split into lanes by the envelope's `subject`, each lane in arrival order, up to `concurrency`
  lanes at once. A handler waiting on its database (SQLite's write lock, a row lock) then no
  longer holds up the events of every other order behind it.
- The connection is made in the background and kept: a service starts (and takes writes into
  its outbox) while the broker is down, and reports itself unhealthy until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from flashsale.kit.envelope import Envelope, stream_name
from flashsale.kit.errors import BrokerUnavailable, DatabaseUnavailable, OutOfTurn
from flashsale.kit.pulling import fetch_gathered
from flashsale.kit.telemetry import metrics
from flashsale.kit.trace_points import consuming, consuming_batch
from flashsale.kit.tracing import mark_failed

log = structlog.get_logger(__name__)

DLQ_STREAM = "DLQ"
WRONG_LAST_SEQUENCE = 10071  # JetStream's error code for a failed Nats-Expected-Last-Sequence
DEDUPE_WINDOW_S = 120.0
DRAIN_TIMEOUT_S = 2.0
LAG_SAMPLE_S = 5.0  # how often a subscription asks the broker how far behind its consumer is
# Failures of the house's own infrastructure, not of a message: waited out, never dead-lettered.
OUTAGES = (DatabaseUnavailable, BrokerUnavailable)
OUTAGE_RETRY_S = (0.1, 5.0)  # the first pause between attempts during an outage, and the longest
Handler = Callable[[Envelope], Awaitable[None]]
BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]


@dataclass(frozen=True)
class StreamLimits:
    """How much a stream keeps. An event stream keeps a week: a consumer needs an event only
    until it acked it, and one that lags by more than minutes shows in `consumer_pending_messages`
    long before a week is up. Dead letters wait for an operator for 30 days.

    A size (bytes, -1 none) is the operator's choice: JetStream reserves a stream's whole
    `max_bytes` on the server when the stream is made, so a default size for every stream would
    exhaust a small server's storage. Full by size, a stream refuses new messages rather than
    drop old ones (`discard: new`): the relay's publish fails and the events wait in the outbox,
    so a size never loses an event a consumer still needs."""

    max_age_s: float = 7 * 86_400.0
    max_bytes: int = -1
    dlq_max_age_s: float = 30 * 86_400.0
    dlq_max_bytes: int = -1


@dataclass(frozen=True)
class Subscription:
    """`consumer` (a durable name, e.g. "inventory") reads `event_types` from `producer`'s stream."""

    consumer: str
    producer: str
    event_types: Sequence[str]
    handler: Handler
    max_deliver: int = 5
    ack_wait_s: float = 30.0
    # Optional: takes each fetched batch at once, for a store where every commit is dear (an
    # analytics file). Acks follow its return; when it raises, the batch goes through `handler`
    # one message at a time, so retries and dead letters stay per message.
    batch_handler: BatchHandler | None = None
    # How many subjects' events may be handled at once (see the module docstring). 1 keeps the
    # stream's order: for a copy that sets absolute values, or events about one shared thing.
    concurrency: int = 1
    # How long after a first event the pull waits for more, so that what arrives within that
    # moment is handled (by a batch_handler: committed) as one batch (kit/pulling.py
    # `fetch_gathered`). For a read model nobody waits on; 0 hands each event over as it arrives.
    gather_s: float = 0.0


class Bus:
    def __init__(self, url: str, *, name: str, limits: StreamLimits | None = None) -> None:
        self.url = url
        self.name = name
        self.limits = limits or StreamLimits()
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._connected = asyncio.Event()
        self._known_streams: set[str] = set()
        self._on_gap: list[Callable[[bool], None]] = []

    # -- connection -----------------------------------------------------------------------

    async def connect(self, *, attempts: int | None = None) -> None:
        """Connect, retrying every half second; `attempts=None` retries forever."""
        tried = 0
        while True:
            try:
                self._nc = await nats.connect(
                    self.url,
                    name=self.name,
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=self._on_reconnect,
                )
                self._js = _JetStream(self._nc, timeout=5)
                self._connected.set()
                return
            except (OSError, nats.errors.Error, TimeoutError) as exc:
                tried += 1
                if attempts is not None and tried >= attempts:
                    raise BrokerUnavailable(f"cannot reach {self.url}: {exc}") from exc
                await asyncio.sleep(0.5)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats_error", error=str(exc))

    async def _on_disconnect(self) -> None:
        self._connected.clear()
        for gap in self._on_gap:
            gap(False)
        log.warning("nats_disconnected", url=self.url)

    async def _on_reconnect(self) -> None:
        self._connected.set()
        for gap in self._on_gap:
            gap(True)  # nats-py has subscribed again by now
        log.info("nats_reconnected", url=self.url)

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def _jetstream(self) -> JetStreamContext:
        if self._js is None or not self.is_connected:
            raise BrokerUnavailable(f"not connected to {self.url}")
        return self._js

    async def close(self) -> None:
        if self._nc is not None:
            # Bounded: a pull subscription whose fetch was cancelled mid-way leaves an item its
            # drain waits for forever, and a service must stop within its shutdown grace.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(DRAIN_TIMEOUT_S):
                    await self._nc.drain()
            if not self._nc.is_closed:
                with contextlib.suppress(Exception):
                    await self._nc.close()
            self._nc = None
            self._js = None

    # -- streams --------------------------------------------------------------------------

    async def ensure_stream(self, producer: str) -> str:
        """Create `producer`'s event stream if missing (idempotent; producers and consumers call it)."""
        name = stream_name(producer)
        if name not in self._known_streams:
            await self._add_stream(name, [f"{producer}.>"], self.limits.max_age_s, self.limits.max_bytes)
            self._known_streams.add(name)
        return name

    async def ensure_dead_letters(self) -> None:
        if DLQ_STREAM not in self._known_streams:
            await self._add_stream(DLQ_STREAM, ["dlq.>"], self.limits.dlq_max_age_s, self.limits.dlq_max_bytes)
            self._known_streams.add(DLQ_STREAM)

    async def _add_stream(self, name: str, subjects: list[str], max_age_s: float, max_bytes: int) -> None:
        js = self._jetstream()
        config = StreamConfig(
            name=name, subjects=subjects, storage=StorageType.FILE, duplicate_window=DEDUPE_WINDOW_S,
            retention=RetentionPolicy.LIMITS, max_age=max_age_s, max_bytes=max_bytes, discard=DiscardPolicy.NEW,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            # It exists with another config. One without any limit was made before streams had
            # them: give it ours. One with limits an operator chose keeps them.
            found = (await js.stream_info(name)).config
            if not found.max_age and (found.max_bytes is None or found.max_bytes < 0):
                await js.update_stream(config)
                log.info("stream_limits_set", stream=name, max_age_s=max_age_s, max_bytes=max_bytes)

    # -- publishing -----------------------------------------------------------------------

    async def publish_batch(
        self, producer: str, messages: Sequence[tuple[str, str, bytes]],
        traceparents: Sequence[str | None] | None = None, *, after: int | None = None,
    ) -> int | None:
        """Publish `(subject, event_id, payload)` in order; returns, when every one is stored, the
        stream's last sequence (`after` if each was a duplicate; None without `after`).

        The messages go out back to back on one connection, so the stream stores them in the
        order given, and we wait for all acks at the end instead of one round trip each.
        `traceparents` (one per message, or None) go out as `traceparent` headers.

        With `after` (the stream's last sequence as the caller knows it) each message is stored
        only if the stream's last message is still the one before it (JetStream's
        `Nats-Expected-Last-Sequence`): a publisher that was paused while another took its place
        is refused with OutOfTurn instead of writing old events after newer ones (kit/outbox.py).
        """
        if not messages:
            return after
        stream = await self.ensure_stream(producer)
        parents = list(traceparents or [None] * len(messages))
        acks = await self._publish_back_to_back(stream, messages, parents, after)
        last = after
        for index, ack in enumerate(acks):
            if isinstance(ack, OutOfTurn):
                return await self._publish_one_by_one(stream, messages[index:], parents[index:], last)
            last = _last_after(last, ack)
        return last

    async def _publish_one_by_one(
        self, stream: str, messages: Sequence[tuple[str, str, bytes]], parents: Sequence[str | None],
        after: int | None,
    ) -> int | None:
        """A chain of expectations assumes every message before is stored anew; a duplicate (a
        holder died after publishing, before marking) does not move the stream on and breaks it.
        So, from the first refusal, each message expects what the acks so far say is last."""
        last = after
        for message, parent in zip(messages, parents, strict=True):
            ack = (await self._publish_back_to_back(stream, [message], [parent], last))[0]
            if isinstance(ack, OutOfTurn):
                raise ack
            last = _last_after(last, ack)
        return last

    async def _publish_back_to_back(
        self, stream: str, messages: Sequence[tuple[str, str, bytes]], parents: Sequence[str | None],
        after: int | None,
    ) -> list[PubAck | OutOfTurn]:
        """Publish without waiting in between, the n-th expecting `after + n` as the stream's
        last sequence (no expectation without `after`); an ack each, or OutOfTurn where refused."""
        js = self._jetstream()
        try:
            pending = [
                await js.publish_async(
                    subject, payload, stream=stream,
                    headers=_headers(event_id, parent, None if after is None else after + n),
                )
                for n, ((subject, event_id, payload), parent) in enumerate(zip(messages, parents, strict=True))
            ]
            async with asyncio.timeout(10):  # not wait_for: kit/waiting.py says why
                outcomes = await asyncio.gather(*pending, return_exceptions=True)
        except (nats.errors.Error, TimeoutError) as exc:
            raise BrokerUnavailable(f"publish failed: {exc}") from exc
        acks: list[PubAck | OutOfTurn] = []
        for outcome in outcomes:
            if isinstance(outcome, nats.js.errors.APIError) and outcome.err_code == WRONG_LAST_SEQUENCE:
                acks.append(OutOfTurn(f"the stream has moved on: {outcome.description}"))
            elif isinstance(outcome, BaseException):
                raise BrokerUnavailable(f"publish failed: {outcome}") from outcome
            else:
                acks.append(outcome)
        return acks

    async def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        js = self._jetstream()
        await js.publish(subject, payload, headers=headers)

    # -- hints (core NATS: not stored, at most once; for nudges whose loss only costs a poll) --

    async def hint(self, subject: str) -> None:
        """Send an empty message on `subject` to whoever listens now (nobody stores it)."""
        if self._nc is None or not self.is_connected:
            raise BrokerUnavailable(f"not connected to {self.url}")
        try:
            await self._nc.publish(subject)
        except nats.errors.Error as exc:
            raise BrokerUnavailable(f"hint failed: {exc}") from exc

    async def listen(self, subject: str, on_hint: Callable[[], None]) -> None:
        """Call `on_hint` for every hint on `subject` from now on (kept across reconnects)."""
        if self._nc is None or not self.is_connected:
            raise BrokerUnavailable(f"not connected to {self.url}")

        async def heard(_msg: Msg) -> None:
            on_hint()

        await self._nc.subscribe(subject, cb=heard)
        await self._nc.flush()  # the server knows of us when this returns: no hint sent later is missed

    async def overhear(
        self, subjects: Sequence[str], on_event: Callable[[Envelope], None], on_gap: Callable[[bool], None],
    ) -> None:
        """Call `on_event` with every event published on `subjects` from now on, as it is published
        (core NATS: no durable consumer, no acks, no replay), and `on_gap(heard)` whenever some may
        have been missed: `heard` False when the connection drops, True once it is back. For a
        local copy that only ever makes an answer cheaper and never decides one on its own."""
        if self._nc is None or not self.is_connected:
            raise BrokerUnavailable(f"not connected to {self.url}")

        async def heard(msg: Msg) -> None:
            envelope = _decoded(msg)
            if envelope is not None:
                on_event(envelope)

        for subject in subjects:
            await self._nc.subscribe(subject, cb=heard)
        await self._nc.flush()  # the server knows of us when this returns: nothing published later is missed
        self._on_gap.append(on_gap)

    # -- progress (what a reconciliation asks before it trusts a read model) ---------------

    async def stream_last_sequence(self, producer: str) -> int:
        """The sequence of the newest message in `producer`'s stream (0 when empty)."""
        try:
            info = await self._jetstream().stream_info(await self.ensure_stream(producer))
        except (nats.errors.Error, TimeoutError) as exc:
            raise BrokerUnavailable(f"stream info failed: {exc}") from exc
        return int(info.state.last_seq)

    async def applied_through(self, producer: str, consumer: str, sequence: int) -> bool:
        """Whether durable `consumer` has acked every message of `producer`'s stream up to
        `sequence`. Acks follow commits, so an acked message's effect is applied. (A filtered
        consumer's ack floor stays at the last message it was given: nothing pending or
        unacknowledged, asked after `sequence` was stored, says the same.)"""
        try:
            info = await self._jetstream().consumer_info(stream_name(producer), consumer)
        except nats.js.errors.NotFoundError:
            return False
        except (nats.errors.Error, TimeoutError) as exc:
            raise BrokerUnavailable(f"consumer info failed: {exc}") from exc
        if info.ack_floor is not None and info.ack_floor.stream_seq >= sequence:
            return True
        return not info.num_pending and not info.num_ack_pending

    # -- consuming ------------------------------------------------------------------------

    async def run_subscription(self, sub: Subscription, stop: asyncio.Event) -> None:
        """Pull and handle messages for `sub` until `stop` is set; survives broker outages."""
        while not stop.is_set():
            try:
                await self.wait_connected()
                psub = await self._pull_subscription(sub)
                try:
                    await self._pull_loop(sub, psub, stop)
                finally:
                    # A fetch cut short (stop, cancel) leaves its reply queued in the inbox, and
                    # drain() at shutdown would wait for it until drain_timeout (30 s): drop it.
                    with contextlib.suppress(Exception):
                        await psub.unsubscribe()
            except (nats.errors.Error, BrokerUnavailable, TimeoutError) as exc:
                log.warning("subscription_interrupted", consumer=sub.consumer, error=str(exc))
                await asyncio.sleep(0.5)

    async def _pull_subscription(self, sub: Subscription) -> JetStreamContext.PullSubscription:
        stream = await self.ensure_stream(sub.producer)
        await self.ensure_dead_letters()
        subjects = [f"{sub.producer}.{t}" for t in sub.event_types]
        config = ConsumerConfig(
            durable_name=sub.consumer,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=sub.max_deliver + 1,  # the last delivery only moves it to the DLQ
            ack_wait=sub.ack_wait_s,
            filter_subjects=subjects,
            max_ack_pending=1000,
        )
        return await self._jetstream().pull_subscribe(
            subjects[0], durable=sub.consumer, stream=stream, config=config
        )

    async def _pull_loop(
        self, sub: Subscription, psub: JetStreamContext.PullSubscription, stop: asyncio.Event
    ) -> None:
        sampled_at = 0.0
        while not stop.is_set():
            if time.monotonic() - sampled_at >= LAG_SAMPLE_S:
                sampled_at = time.monotonic()
                await _sample_lag(sub, psub)
            try:
                msgs = await fetch_gathered(psub, sub.gather_s)
            except TimeoutError:
                continue
            if sub.batch_handler is not None and await self._deliver_batch(sub, sub.batch_handler, msgs):
                continue
            if sub.concurrency > 1:
                await self._deliver_by_subject(sub, msgs)
                continue
            for msg in msgs:
                await self._deliver(sub, msg)

    async def _deliver_by_subject(self, sub: Subscription, msgs: list[Msg]) -> None:
        """Each subject's messages in arrival order, up to `sub.concurrency` subjects at once."""
        lanes: dict[str, list[tuple[Msg, Envelope | None]]] = {}
        for msg in msgs:
            envelope = _decoded(msg)
            # An undecodable message has a lane of its own: it goes to the dead letters regardless.
            subject = envelope.subject if envelope is not None else f"undecodable:{id(msg)}"
            lanes.setdefault(subject, []).append((msg, envelope))
        turns = asyncio.Semaphore(sub.concurrency)

        async def deliver_lane(lane: list[tuple[Msg, Envelope | None]]) -> None:
            async with turns:
                for msg, envelope in lane:
                    await self._deliver(sub, msg, envelope)

        # Every lane finishes before a failure (the broker gone mid-ack) goes up to resubscribe.
        outcomes = await asyncio.gather(*(deliver_lane(lane) for lane in lanes.values()), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _deliver_batch(self, sub: Subscription, handle: BatchHandler, msgs: list[Msg]) -> bool:
        """Hand the whole batch over and ack it; False leaves it to one-by-one delivery (an
        undecodable or exhausted message among them, or a failed batch)."""
        try:
            envelopes = [Envelope.from_bytes(msg.data) for msg in msgs]
        except ValueError:
            return False
        if any(msg.metadata.num_delivered > sub.max_deliver for msg in msgs):
            return False
        try:
            with consuming_batch(sub.consumer, envelopes, [msg.headers for msg in msgs]):
                await handle(envelopes)
        except Exception as exc:  # noqa: BLE001 - the one-by-one path retries and dead-letters
            log.warning("batch_handler_failed", consumer=sub.consumer, size=len(msgs), error=repr(exc))
            return False
        for msg in msgs:
            await msg.ack()
        return True

    async def _deliver(self, sub: Subscription, msg: Msg, envelope: Envelope | None = None) -> None:
        """Handle one message and ack it (or nak, or dead-letter it); `envelope`: its data decoded
        already (lanes decode it to find its subject)."""
        attempt = msg.metadata.num_delivered
        if envelope is None:
            try:
                envelope = Envelope.from_bytes(msg.data)
            except ValueError as exc:
                await self._dead_letter(sub, msg, f"undecodable: {exc}")
                return
        if attempt > sub.max_deliver:
            await self._dead_letter(sub, msg, "gave up after repeated failures")
            return
        if attempt > 1:
            metrics.delivered_again.labels(sub.consumer, envelope.type).inc()
        # The consumer's span and log context cover a failure too: its log line names the trace.
        with consuming(sub.consumer, msg.subject, envelope, msg.headers):
            try:
                await _handle_through_outages(sub, msg, envelope)
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                mark_failed(exc)
                metrics.redeliveries.labels(sub.consumer, envelope.type).inc()
                log.warning(
                    "handler_failed", consumer=sub.consumer, type=envelope.type, id=envelope.id,
                    attempt=attempt, error=repr(exc),
                )
                if attempt >= sub.max_deliver:
                    await self._dead_letter(sub, msg, repr(exc))
                else:
                    await msg.nak(delay=min(0.2 * 2 ** (attempt - 1), 5.0))
                return
        await msg.ack()

    async def _dead_letter(self, sub: Subscription, msg: Msg, error: str) -> None:
        headers = {
            "Flashsale-Error": error[:500],
            "Flashsale-Original-Subject": msg.subject,
            "Flashsale-Consumer": sub.consumer,
        }
        await self.publish_raw(f"dlq.{sub.consumer}", msg.data, headers)
        metrics.dead_letters.labels(sub.consumer).inc()
        log.error("dead_lettered", consumer=sub.consumer, subject=msg.subject, error=error)
        await msg.ack()


async def _handle_through_outages(sub: Subscription, msg: Msg, envelope: Envelope) -> None:
    """Run the handler; while it fails for want of the service's database or broker, tell the
    broker the message is still being worked on (so it is not handed to another instance) and
    try again, with backoff. Any other failure is the caller's to retry or dead-letter."""
    pause, longest = OUTAGE_RETRY_S
    while True:
        try:
            await sub.handler(envelope)
            return
        except OUTAGES as exc:
            metrics.outage_waits.labels(sub.consumer, envelope.type).inc()
            log.warning("handler_waiting_out_outage", consumer=sub.consumer, type=envelope.type, id=envelope.id,
                        error=repr(exc))
        await msg.in_progress()
        await asyncio.sleep(pause)
        pause = min(pause * 2, longest)


class _JetStream(JetStreamContext):
    """nats-py (2.16) leaves an async publish's future pending forever when the server refuses
    the message: its reply handler calls `APIError.from_error`, which raises instead of returning
    the error (nats-io/nats.py#985, fix proposed in #994). A refused expectation is how the relay's
    fence works, so a refusal is put on its future here; every other reply goes the library's way."""

    async def _handle_async_reply(self, msg: Msg) -> None:
        if b'"error"' not in msg.data:
            await super()._handle_async_reply(msg)
            return
        token = msg.subject[len(self._nc._inbox_prefix) + 22 + 2:]  # as the library finds it
        future = self._publish_async_futures.get(token)
        try:
            nats.js.errors.APIError.from_error(json.loads(msg.data)["error"])
        except nats.js.errors.APIError as refusal:
            if future is not None and not future.done():
                future.set_exception(refusal)
        except (ValueError, KeyError, TypeError):
            await super()._handle_async_reply(msg)


def _decoded(msg: Msg) -> Envelope | None:
    try:
        return Envelope.from_bytes(msg.data)
    except ValueError:
        return None


def _headers(event_id: str, traceparent: str | None, after: int | None = None) -> dict[str, str]:
    headers = {"Nats-Msg-Id": event_id}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    if after is not None:
        headers["Nats-Expected-Last-Sequence"] = str(after)
    return headers


def _last_after(last: int | None, ack: PubAck) -> int | None:
    """The stream's last sequence after `ack`: a duplicate was stored before and moved nothing."""
    return last if ack.duplicate or last is None else ack.seq


async def _sample_lag(sub: Subscription, psub: JetStreamContext.PullSubscription) -> None:
    """Consumer lag as the broker counts it: not yet delivered, and delivered but not acked."""
    try:
        info = await psub.consumer_info()
    except (nats.errors.Error, TimeoutError) as exc:
        log.debug("consumer_info_failed", consumer=sub.consumer, error=str(exc))
        return
    metrics.consumer_pending.labels(sub.consumer).set(info.num_pending or 0)
    metrics.consumer_unacked.labels(sub.consumer).set(info.num_ack_pending or 0)
