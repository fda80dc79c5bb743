"""An event committed on an instance that does not relay goes out at once: its relay wakes the
instance holding the relay lease through the broker, instead of leaving the event to that
instance's next poll."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import nats
import pytest

from flashsale.kit.bus import Bus
from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.outbox import Relay, outbox_backlog

pytestmark = pytest.mark.service

POLL_S = 30.0  # longer than the test may take: nothing here is published because a poll came round


@contextlib.asynccontextmanager
async def _running(*relays: Relay) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _until(condition: Callable[[], bool | Awaitable[bool]], what: str, timeout_s: float = 10.0) -> None:
    """Poll `condition` (plain or async) until it holds; fail after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await _holds(condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _holds(answer: bool | Awaitable[bool]) -> bool:
    return await answer if inspect.isawaitable(answer) else bool(answer)


async def _first_event(nats_url: str, subject: str, timeout_s: float) -> Envelope | None:
    """The first event stored on `subject`, or None when none came within `timeout_s`."""
    return await _nth_event(nats_url, subject, 1, timeout_s)


async def _nth_event(nats_url: str, subject: str, n: int, timeout_s: float) -> Envelope | None:
    """The n-th event stored on `subject`, or None when it did not come within `timeout_s` (each)."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
        try:
            for _ in range(n - 1):
                await sub.next_msg(timeout=timeout_s)
            return Envelope.from_bytes((await sub.next_msg(timeout=timeout_s)).data)
        except nats.errors.TimeoutError:
            return None
    finally:
        await nc.close()


async def test_an_event_written_where_the_lease_is_not_is_relayed_without_a_poll(
    kit_db: Database, bus: Bus, nats_url: str,
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    writer_bus = Bus(nats_url, name="kit-test-writer")
    await writer_bus.connect(attempts=20)
    holder = Relay(kit_db, bus, producer, SystemClock(), poll_interval_s=POLL_S)
    writer = Relay(kit_db, writer_bus, producer, SystemClock(), poll_interval_s=POLL_S)
    kit_db.on_events_committed(writer.notify)  # the writing process's own relay hears of the commit
    try:
        await bus.ensure_stream(producer)
        assert await holder.relay_once() == 0  # takes the lease: from now on the holder relays
        async with _running(holder, writer):
            await _until(lambda: holder.listening and writer.listening, "both relays to listen for wake-ups")
            async with kit_db.unit_of_work() as uow:
                event = Envelope.new(source=producer, type="ThingHappened", subject="a", data={"n": 1},
                                     now_ms=SystemClock().now_ms())
                await uow.announce(event, aggregate_id="a")

            got = await _first_event(nats_url, f"{producer}.>", timeout_s=POLL_S / 3)
    finally:
        await writer_bus.close()

    assert got is not None and got.id == event.id


class _CommitsDuringFirstPublish(Bus):
    """The real bus, with one more commit landing while the relay publishes its first batch (the
    moment a busy service's next event most often arrives)."""

    def __init__(self, url: str, db: Database, producer: str) -> None:
        super().__init__(url, name="kit-test-busy")
        self.db = db
        self.producer = producer
        self.late: Envelope | None = None

    async def publish_batch(
        self, producer: str, messages: Sequence[tuple[str, str, bytes]],
        traceparents: Sequence[str | None] | None = None, *, after: int | None = None,
    ) -> int | None:
        if self.late is None:
            self.late = Envelope.new(source=self.producer, type="ThingHappened", subject="b", data={"n": 2},
                                     now_ms=SystemClock().now_ms())
            await asyncio.create_task(self._commit(self.late))  # as a request would: its own task
        return await super().publish_batch(producer, messages, traceparents, after=after)

    async def _commit(self, event: Envelope) -> None:
        async with self.db.unit_of_work() as uow:
            await uow.announce(event, aggregate_id="b")


async def test_an_event_committed_while_the_relay_publishes_goes_out_next_not_at_the_next_poll(
    kit_db: Database, nats_url: str,
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    busy = _CommitsDuringFirstPublish(nats_url, kit_db, producer)
    await busy.connect(attempts=20)
    relay = Relay(kit_db, busy, producer, SystemClock(), poll_interval_s=POLL_S)
    kit_db.on_events_committed(relay.notify)
    try:
        await busy.ensure_stream(producer)
        async with _running(relay):
            async with kit_db.unit_of_work() as uow:
                first = Envelope.new(source=producer, type="ThingHappened", subject="a", data={"n": 1},
                                     now_ms=SystemClock().now_ms())
                await uow.announce(first, aggregate_id="a")
            await _until(lambda: busy.late is not None, "the relay to publish the first event")
            late = await _nth_event(nats_url, f"{producer}.>", 2, timeout_s=POLL_S / 3)
            # ...and is marked published (a relay stopped inside that write would leave SQLite's
            # write lock to its cancellation, and the test's teardown waiting for the busy timeout).
            await _until(lambda: _nothing_unpublished(kit_db), "the outbox to be relayed", POLL_S / 3)
    finally:
        await busy.close()

    assert late is not None and busy.late is not None and late.id == busy.late.id


async def _nothing_unpublished(db: Database) -> bool:
    return (await outbox_backlog(db))[0] == 0
