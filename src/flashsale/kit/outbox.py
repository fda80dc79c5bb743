"""Transactional outbox: an event is a row written in the caller's unit of work; a relay publishes.

A unit of work (kit/unit_of_work.py) writes the rows: `uow.announce(envelope, aggregate_id=...)`
in the transaction of the change the event announces.

Ordering. The relay publishes rows in `position` order. Two transactions that change the same
aggregate are serialised by the aggregate's row lock, and each writes its outbox row after that
change, so the later one also draws the later position: per-aggregate order is commit order.

One relay per database. Several instances of a service share one database; a lease row decides
which of them relays, so events are never published out of order by two relays racing. If the
holder dies, its lease runs out and another instance takes over. The lease runs out by the
database's clock, which every instance reads alike. A holder that is paused (SIGSTOP, a VM stall)
past its lease may wake up with a batch in hand after the next holder has published newer
events: the stream itself fences it off. Each message is published expecting the stream's last
sequence to be the one before it (`Bus.publish_batch(after=...)`), so the paused relay's batch is
refused (OutOfTurn); it then asks the database whether it still holds the lease before anything else.

Waking up. A unit of work that announced events wakes the relay of its own process once it has
committed (`Database.on_events_committed`). When that relay does not hold the lease, it passes the
wake-up on as a hint on the broker (`_relay.<producer>.wake` is no stream's subject: core NATS, not
stored) to the instance that does, so an event written on any instance goes out right after its
commit rather than at the holder's next poll. The hint carries nothing: the holder reads the outbox
as always, and a lost hint only costs that poll.

Marking. What a relay published is marked published (`published_at_ms`) at most once a second
(`BOOKKEEPING_EVERY_MS`, just before it reads its backlog for the gauges, so the backlog counts
only what is not out yet), in one statement for all of it, and before the relay stops; until then the
relay remembers it and does not read it again. A mark per published batch was a write per
event at a checkout's pace (a batch is often one event): ~9 writes per checkout across the house,
each a turn at SQLite's write lock. A relay that dies before its mark leaves up to a second of
events to be published again by the next holder: the stream drops them by their Nats-Msg-Id, as
it does after any crash between publishing and marking.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import sqlalchemy as sa
import structlog

from flashsale.kit.bus import Bus
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.errors import BrokerUnavailable, OutOfTurn
from flashsale.kit.schema import outbox, relay_lease
from flashsale.kit.sql import database_now_ms
from flashsale.kit.statements import Statement, none_of, one_of, per_dialect
from flashsale.kit.telemetry import metrics
from flashsale.kit.trace_points import publishing
from flashsale.kit.waiting import wait_set

log = structlog.get_logger(__name__)

LEASE_S = 5.0
BOOKKEEPING_EVERY_MS = 1000  # how often a relay marks what it published and reads its backlog
MARK_AT_STOP_S = 2.0  # a stop does not wait longer than this for the last mark


# Built once (kit/statements.py says why): every event a service announces is marked published by it.
@per_dialect
def _MARK_PUBLISHED(dialect: str) -> sa.Update:
    return outbox.update().where(one_of(outbox.c.position, "b_positions", dialect)).values(
        published_at_ms=sa.bindparam("b_now"))


class Relay:
    """Publishes committed outbox rows to the bus, in order, at least once."""

    def __init__(
        self, db: Database, bus: Bus, producer: str, clock: Clock, *,
        poll_interval_s: float = 0.25, batch_size: int = 500, lease_s: float = LEASE_S,
    ) -> None:
        self.db = db
        self.bus = bus
        self.producer = producer
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self.lease_s = lease_s
        self.holder = f"{producer}-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        # This process's monotonic clock, only to pace the asking: whether the lease is held is
        # decided by the database's clock in `_take_lease`.
        self._renew_after = 0.0  # while held: ask again after this
        self._holding = False
        self._asked_at = float("-inf")  # when not held: when we last asked
        self._last_published: int | None = None  # the stream's last sequence, as this holder knows it
        self._bookkept_at_ms = 0
        self._committed_here = False  # events committed in this process since we last looked
        self._unmarked: list[int] = []  # positions published and not yet marked, in publishing order
        self.listening = False  # whether other instances' wake-ups reach us (once the broker was there)
        # Built once (kit/statements.py says why): the relay runs it for every batch.
        self._unpublished = Statement(lambda dialect: (
            sa.select(outbox.c.position, outbox.c.event_id, outbox.c.subject, outbox.c.envelope)
            .where(outbox.c.published_at_ms.is_(None), none_of(outbox.c.position, "b_unmarked", dialect))
            .order_by(outbox.c.position).limit(batch_size)
        ))

    @property
    def wake_subject(self) -> str:
        return f"_relay.{self.producer}.wake"

    def notify(self) -> None:
        """Something was committed: look at the outbox now rather than at the next poll."""
        self._committed_here = True
        self._wake.set()

    def _heard(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self._round(stop)
        finally:  # stopped, or cancelled by the service's close: what went out is marked first
            await self._mark_on_the_way_out()

    async def _round(self, stop: asyncio.Event) -> None:
        # Cleared before this round looks at the outbox, not after: a commit (or a hint) that
        # lands while it publishes leaves the flag set, and the next round starts at once.
        # Cleared after, it was lost and its event waited for the next poll.
        self._wake.clear()
        try:
            await self._listen()
            published = await self.relay_once()
            await self._pass_wake_on()
        except BrokerUnavailable as exc:
            log.warning("relay_waiting_for_broker", error=str(exc))
            published = 0
            await asyncio.sleep(0.5)
        except Exception:
            log.exception("relay_failed")
            published = 0
            await asyncio.sleep(0.5)
        if published < self.batch_size:
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        timeout = self.poll_interval_s
        if self._unmarked:  # wake for the mark when it is due, however long the poll
            due_in_ms = self._bookkept_at_ms + BOOKKEEPING_EVERY_MS - self.clock.now_ms()
            timeout = min(timeout, max(0.0, due_in_ms / 1000))
        await wait_set(self._wake, timeout)

    async def _listen(self) -> None:
        """Hear the other instances' wake-ups, once the broker is there (a relay starts without it)."""
        if not self.listening and self.bus.is_connected:
            await self.bus.listen(self.wake_subject, self._heard)
            self.listening = True

    async def _pass_wake_on(self) -> None:
        """Events were committed here but another instance relays: wake it rather than leave
        them to its next poll. (A holder whose lease ran out takes it again itself.)"""
        if not self._committed_here:
            return
        self._committed_here = False
        if not self._holding and self.bus.is_connected:
            await self.bus.hint(self.wake_subject)

    async def relay_once(self) -> int:
        """Publish one batch if we hold the lease; returns how many rows were published."""
        if not self.bus.is_connected or not await self._hold_lease():
            await self._bookkeeping_when_due()  # the backlog grows while the broker is away: show it
            return 0
        async with self.db.read() as conn:
            rows = (await self._unpublished.run(conn, {"b_unmarked": self._unmarked})).all()
        if rows:
            try:
                with publishing([r.subject for r in rows], [r.envelope for r in rows]) as traceparents:
                    self._last_published = await self.bus.publish_batch(
                        self.producer, [(r.subject, r.event_id, r.envelope.encode()) for r in rows], traceparents,
                        after=self._last_published,
                    )
            except OutOfTurn:
                # Another relay published since we last did: we were paused past our lease, or
                # someone else writes to the stream. Ask the database before the next batch.
                log.warning("relay_out_of_turn", producer=self.producer)
                metrics.relay_out_of_turn.inc()
                self._holding = False
                return 0
            self._unmarked.extend(r.position for r in rows)
            metrics.published.inc(len(rows))
        await self._bookkeeping_when_due()
        return len(rows)

    async def _bookkeeping_when_due(self) -> None:
        """At most once a second: mark what was published, then read the backlog (what is left)."""
        if len(self._unmarked) >= self.batch_size:  # keep the list, and the read that skips it, short
            await self._mark_published()
        if self.clock.now_ms() - self._bookkept_at_ms >= BOOKKEEPING_EVERY_MS:
            self._bookkept_at_ms = self.clock.now_ms()
            await self._mark_published()
            await self._record_lag()

    async def _mark_published(self) -> None:
        """Mark what this relay published, in one statement (on PostgreSQL it commits on its own)."""
        if not self._unmarked:
            return
        positions = list(self._unmarked)
        async with self.db.single_statement() as uow:
            await _MARK_PUBLISHED.run(uow.conn, {"b_positions": positions, "b_now": self.clock.now_ms()})
        self._unmarked = self._unmarked[len(positions):]  # what was published meanwhile stays

    async def _mark_on_the_way_out(self) -> None:
        """Stopping: mark what was published, so a restart does not publish it again. Best effort:
        what stays unmarked is published again, and the stream drops it."""
        try:
            async with asyncio.timeout(MARK_AT_STOP_S):
                await self._mark_published()
        except Exception:  # noqa: BLE001 - the database may be gone already; nothing is lost
            log.warning("relay_unmarked_at_stop", events=len(self._unmarked))

    async def _hold_lease(self) -> bool:
        """True while we hold the lease. Renewed at half-life, so a busy relay does not pay a
        write transaction per batch; an instance without it asks again once per poll."""
        now = time.monotonic()
        if self._holding and now < self._renew_after:
            return True
        if not self._holding and now - self._asked_at < self.poll_interval_s:
            return False
        self._asked_at = now
        held = await self._take_lease(int(self.lease_s * 1000))
        if held and not self._holding:
            # Newly ours: chain on what the last holder published, as the stream has it.
            self._last_published = await self.bus.stream_last_sequence(self.producer)
        self._holding = held
        self._renew_after = now + self.lease_s / 2
        return held

    async def _take_lease(self, lease_ms: int) -> bool:
        async with self.db.transaction() as conn:
            now = database_now_ms(conn)
            taken = await conn.execute(
                relay_lease.update()
                .where(relay_lease.c.name == "relay")
                .where(sa.or_(relay_lease.c.holder == self.holder, relay_lease.c.expires_at_ms < now))
                .values(holder=self.holder, expires_at_ms=now + lease_ms)
            )
            return bool(taken.rowcount == 1)

    async def _record_lag(self) -> None:
        backlog, oldest = await outbox_backlog(self.db)
        metrics.outbox_backlog.set(backlog)
        metrics.outbox_lag.set(0 if oldest is None else max(0, self.clock.now_ms() - oldest) / 1000)


# Built once (kit/statements.py says why): every relay reads its backlog once a second.
_BACKLOG = Statement(sa.select(sa.func.count().label("backlog"), sa.func.min(outbox.c.created_at_ms).label("oldest"))
                     .where(outbox.c.published_at_ms.is_(None)))


async def outbox_backlog(db: Database) -> tuple[int, int | None]:
    """(rows not yet published, creation time of the oldest of them in epoch ms)."""
    async with db.read() as conn:
        row = (await _BACKLOG.run(conn)).one()
    return int(row[0]), row[1]
