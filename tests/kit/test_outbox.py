"""The outbox publishes what committed, in order, at least once, and nothing that rolled back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Sequence

import nats
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from flashsale.kit.bus import Bus
from flashsale.kit.clock import ManualClock, SystemClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope, stream_name
from flashsale.kit.outbox import LEASE_S, Relay, outbox_backlog
from flashsale.kit.schema import outbox
from flashsale.kit.telemetry import metrics
from kit.bus_support import until

pytestmark = pytest.mark.service


def _event(producer: str, n: int, aggregate: str) -> Envelope:
    return Envelope.new(source=producer, type="ThingHappened", subject=aggregate,
                        data={"n": n}, now_ms=SystemClock().now_ms())


async def _collect(nats_url: str, subject: str, want: int, timeout_s: float = 15.0) -> list[Envelope]:
    """Read the stream from the start until `want` events arrived or the deadline passed."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    got: list[Envelope] = []
    try:
        sub = await js.subscribe(subject, ordered_consumer=True)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(got) < want and asyncio.get_running_loop().time() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            got.append(Envelope.from_bytes(msg.data))
    finally:
        await nc.close()
    return got


async def _relay_until_empty(db: Database, bus: Bus, producer: str, *, relay: Relay | None = None) -> None:
    """A relay (a new one by default) drains the outbox; it may first wait for an earlier relay's
    lease to run out."""
    relay = relay or Relay(db, bus, producer, SystemClock())
    deadline = asyncio.get_running_loop().time() + 3 * LEASE_S
    while asyncio.get_running_loop().time() < deadline:
        await relay.relay_once()
        if (await outbox_backlog(db))[0] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the relay did not drain the outbox")


async def test_committed_events_are_published_in_commit_order(kit_db: Database, bus: Bus, nats_url: str) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    for n in range(20):
        async with kit_db.unit_of_work() as uow:
            await uow.announce(_event(producer, n, "agg-1"), aggregate_id="agg-1")

    await _relay_until_empty(kit_db, bus, producer)

    got = await _collect(nats_url, f"{producer}.>", want=20)
    assert [e.data["n"] for e in got] == list(range(20))


async def test_nothing_is_published_for_a_rolled_back_transaction(kit_db: Database, bus: Bus, nats_url: str) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    with pytest.raises(RuntimeError):
        async with kit_db.unit_of_work() as uow:
            await uow.announce(_event(producer, 0, "a"), aggregate_id="a")
            raise RuntimeError("the business rule failed after the event was written")
    async with kit_db.unit_of_work() as uow:
        await uow.announce(_event(producer, 1, "a"), aggregate_id="a")

    await _relay_until_empty(kit_db, bus, producer)

    got = await _collect(nats_url, f"{producer}.>", want=2, timeout_s=2.0)
    assert [e.data["n"] for e in got] == [1]


async def test_a_row_published_twice_reaches_the_stream_once(kit_db: Database, bus: Bus, nats_url: str) -> None:
    """A relay that dies after publishing but before marking re-publishes; Nats-Msg-Id dedupes."""
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    async with kit_db.unit_of_work() as uow:
        await uow.announce(_event(producer, 7, "a"), aggregate_id="a")
    await _relay_until_empty(kit_db, bus, producer)
    async with kit_db.transaction() as conn:  # as if the mark had never committed
        await conn.execute(sa.update(outbox).values(published_at_ms=None))

    await _relay_until_empty(kit_db, bus, producer)

    got = await _collect(nats_url, f"{producer}.>", want=2, timeout_s=2.0)
    assert [e.data["n"] for e in got] == [7]


async def test_only_the_lease_holder_relays(kit_db: Database, bus: Bus) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    first, second = Relay(kit_db, bus, producer, SystemClock()), Relay(kit_db, bus, producer, SystemClock())
    async with kit_db.unit_of_work() as uow:
        await uow.announce(_event(producer, 1, "a"), aggregate_id="a")

    assert await first.relay_once() == 1
    async with kit_db.unit_of_work() as uow:
        await uow.announce(_event(producer, 2, "a"), aggregate_id="a")
    assert await second.relay_once() == 0  # the first still holds the lease
    assert await first.relay_once() == 1


async def test_what_a_relay_published_is_marked_once_a_second_in_one_write_not_per_batch(
    kit_db: Database, bus: Bus, nats_url: str,
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    clock = ManualClock()
    relay = Relay(kit_db, bus, producer, clock)
    assert await relay.relay_once() == 0  # takes the lease; its first bookkeeping is done
    for n in range(5):  # five commits, five batches of one, within the same second
        async with kit_db.unit_of_work() as uow:
            await uow.announce(_event(producer, n, "a"), aggregate_id="a")
        assert await relay.relay_once() == 1

    assert [e.data["n"] for e in await _collect(nats_url, f"{producer}.>", want=5)] == list(range(5))
    assert (await outbox_backlog(kit_db))[0] == 5  # out, not marked yet: no write per batch
    assert await relay.relay_once() == 0  # and not published again meanwhile

    clock.advance(1.0)
    assert await relay.relay_once() == 0
    assert (await outbox_backlog(kit_db))[0] == 0
    async with kit_db.read() as conn:
        marks = (await conn.execute(sa.select(sa.func.count(sa.distinct(outbox.c.published_at_ms))))).scalar()
    assert marks == 1  # all five in one statement


async def test_a_relay_stopped_by_its_service_marks_what_it_published(
    kit_db: Database, bus: Bus, nats_url: str,
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    kit_db.producer = producer  # the name its units of work announce under
    await bus.ensure_stream(producer)
    relay = Relay(kit_db, bus, producer, SystemClock(), poll_interval_s=30.0)
    kit_db.on_events_committed(relay.notify)
    published_before = _published()
    running = asyncio.create_task(relay.run(asyncio.Event()))
    try:
        async with kit_db.unit_of_work() as uow:
            await uow.announce(_event(producer, 1, "a"), aggregate_id="a")
        assert [e.data["n"] for e in await _collect(nats_url, f"{producer}.>", want=1)] == [1]
        # Stopped once the relay has taken the stream's ack: one stopped while it waits for it cannot
        # know what was stored, and leaves the event to be published again and dropped by its id.
        async def counted() -> bool:
            return _published() > published_before

        await until(counted)
    finally:
        running.cancel()  # as the service's close does
        with pytest.raises(asyncio.CancelledError):
            await running

    assert (await outbox_backlog(kit_db))[0] == 0  # a restart will not publish it again


def _published() -> float:
    return REGISTRY.get_sample_value("outbox_published_total") or 0.0


_WRITER = """
import asyncio, sys
from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope, stream_name

async def main(url, producer, count):
    db = await Database.connect(url, producer=producer)
    for n in range(count):
        async with db.unit_of_work() as uow:
            event = Envelope.new(source=producer, type="ThingHappened", subject="a", data={"n": n},
                                 now_ms=SystemClock().now_ms())
            await uow.announce(event, aggregate_id="a")
    print("committed", flush=True)
    await asyncio.sleep(3600)  # the broker is unreachable here; the test kills us

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_rows_committed_before_a_sigkill_are_published_after_restart(
    kit_db: Database, bus: Bus, nats_url: str
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, kit_db.url, producer, "5", stdout=asyncio.subprocess.PIPE, env={**os.environ},
    )
    try:
        assert writer.stdout is not None
        line = await asyncio.wait_for(writer.stdout.readline(), 60)
        assert line.strip() == b"committed"
    finally:
        writer.send_signal(signal.SIGKILL)
        await writer.wait()

    await _relay_until_empty(kit_db, bus, producer)  # the restarted process's relay

    got = await _collect(nats_url, f"{producer}.>", want=5)
    assert [e.data["n"] for e in got] == list(range(5))


class PausedMidPublish(Bus):
    """A relay's broker connection that stops, as a SIGSTOP or a VM stall would, after the relay
    has read its batch and before the batch reaches the broker, until the test lets it go on."""

    def __init__(self, url: str) -> None:
        super().__init__(url, name="kit-test-paused")
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()

    async def publish_batch(
        self, producer: str, messages: Sequence[tuple[str, str, bytes]],
        traceparents: Sequence[str | None] | None = None, *, after: int | None = None,
    ) -> int | None:
        if not self.paused.is_set():
            self.paused.set()
            await self.resume.wait()
        return await super().publish_batch(producer, messages, traceparents, after=after)


async def test_a_relay_paused_past_its_lease_cannot_publish_after_the_next_holder(
    kit_db: Database, bus: Bus, nats_url: str,
) -> None:
    producer, lease_s, window_s = f"p{uuid.uuid4().hex[:8]}", 0.3, 0.2
    kit_db.producer = producer  # the name its units of work announce under
    # A short duplicate window, so that the paused relay's batch is no longer a known duplicate
    # when it wakes (in production: a pause longer than the two-minute window).
    await bus._jetstream().add_stream(name=stream_name(producer), subjects=[f"{producer}.>"],
                                      duplicate_window=window_s)
    paused_bus = PausedMidPublish(nats_url)
    await paused_bus.connect(attempts=20)
    paused = Relay(kit_db, paused_bus, producer, SystemClock(), lease_s=lease_s)
    successor = Relay(kit_db, bus, producer, SystemClock(), lease_s=lease_s)
    first, second = _event(producer, 1, "a"), _event(producer, 2, "a")
    try:
        async with kit_db.unit_of_work() as uow:
            await uow.announce(first, aggregate_id="a")
        stalled = asyncio.create_task(paused.relay_once())
        await asyncio.wait_for(paused_bus.paused.wait(), 5)

        await _relay_until_empty(kit_db, bus, producer, relay=successor)  # once the lease ran out
        async with kit_db.unit_of_work() as uow:
            await uow.announce(second, aggregate_id="a")
        await _relay_until_empty(kit_db, bus, producer, relay=successor)
        await asyncio.sleep(2 * window_s)  # time, not a signal: the duplicate window must pass
        refused_before = metrics.relay_out_of_turn._value.get()
        paused_bus.resume.set()

        assert await stalled == 0
        assert metrics.relay_out_of_turn._value.get() == refused_before + 1
        got = await _collect(nats_url, f"{producer}.>", want=3, timeout_s=1.0)
        assert [e.id for e in got] == [first.id, second.id]  # not first again, after second
    finally:
        await paused_bus.close()
