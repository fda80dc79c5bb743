"""A unit of work announces what it changed in the same commit, and wakes the relay only after it."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.schema import outbox

pytestmark = pytest.mark.service


def _event(subject: str, n: int = 0) -> Envelope:
    return Envelope.new(source="things", type="ThingHappened", subject=subject, data={"n": n},
                        now_ms=SystemClock().now_ms())


async def _announced(db: Database, aggregate_id: str) -> list[tuple[str, str]]:
    """(event id, subject) of the committed outbox rows of `aggregate_id`, in position order, read
    on another connection."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.event_id, outbox.c.subject).where(outbox.c.aggregate_id == aggregate_id)
            .order_by(outbox.c.position)
        )
        return [(row.event_id, row.subject) for row in rows]


def _woken(db: Database) -> list[bool]:
    woken: list[bool] = []
    db.on_events_committed(lambda: woken.append(True))
    return woken


async def test_an_announcement_is_an_outbox_row_and_wakes_the_relay_once_committed(kit_db: Database) -> None:
    kit_db.producer, aggregate = "things", uuid.uuid4().hex
    woken, event = _woken(kit_db), _event(aggregate)

    async with kit_db.unit_of_work() as uow:
        await uow.announce(event, aggregate_id=aggregate)
        assert woken == []  # not committed yet: nothing for the relay to see
        assert await _announced(kit_db, aggregate) == []

    assert woken == [True]
    assert await _announced(kit_db, aggregate) == [(event.id, "things.ThingHappened")]


async def test_a_rolled_back_unit_of_work_announces_nothing_and_wakes_no_one(kit_db: Database) -> None:
    kit_db.producer, aggregate = "things", uuid.uuid4().hex
    woken = _woken(kit_db)

    with pytest.raises(RuntimeError):
        async with kit_db.unit_of_work() as uow:
            await uow.announce(_event(aggregate), aggregate_id=aggregate)
            raise RuntimeError("the business rule failed after the event was written")

    assert woken == []
    assert await _announced(kit_db, aggregate) == []


async def test_a_unit_of_work_that_announces_nothing_wakes_no_one(kit_db: Database) -> None:
    woken = _woken(kit_db)

    async with kit_db.unit_of_work() as uow:
        await uow.conn.execute(sa.select(1))
    async with kit_db.transaction() as conn:
        await conn.execute(sa.select(1))

    assert woken == []


async def test_announcements_of_one_unit_take_positions_in_the_order_given(kit_db: Database) -> None:
    kit_db.producer, aggregate = "things", uuid.uuid4().hex
    first, second, third = (_event(aggregate, n) for n in range(3))

    async with kit_db.unit_of_work() as uow:
        await uow.announce(first, aggregate_id=aggregate)
        await uow.announce_all([(second, aggregate), (third, aggregate)])

    assert [event_id for event_id, _ in await _announced(kit_db, aggregate)] == [first.id, second.id, third.id]


async def test_a_database_that_names_no_producer_refuses_to_announce(kit_db: Database) -> None:
    kit_db.producer, aggregate = None, uuid.uuid4().hex

    with pytest.raises(RuntimeError, match="producer"):
        async with kit_db.unit_of_work() as uow:
            await uow.announce(_event(aggregate), aggregate_id=aggregate)

    assert await _announced(kit_db, aggregate) == []
