"""The inbox turns at-least-once delivery into exactly-once effects."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.inbox import NOT_RECORDED, apply_batch_once, apply_once, recording_cte, recording_values, was_handled
from flashsale.kit.schema import outbox
from flashsale.kit.statements import Statement
from flashsale.kit.unit_of_work import UnitOfWork

pytestmark = pytest.mark.service


async def _count_effects(db: Database, marker: str) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.aggregate_id == marker)
        ) or 0)


def _effect(marker: str):
    """An effect we can count: one outbox row per application, tagged with `marker`; it answers
    the id of the message it applied."""
    async def effect(uow: UnitOfWork, envelope: Envelope) -> str:
        await uow.conn.execute(outbox.insert().values(
            event_id=str(uuid.uuid4()), subject="effects", aggregate_id=marker, envelope="{}", created_at_ms=0,
        ))
        return envelope.id
    return effect


def _message() -> Envelope:
    return Envelope.new(source="orders", type="OrderConfirmed", subject="o-1", data={}, now_ms=SystemClock().now_ms())


async def test_the_same_message_twice_changes_state_once(kit_db: Database) -> None:
    marker, message = uuid.uuid4().hex, _message()

    first = await apply_once(kit_db, "inventory", message, _effect(marker), SystemClock())
    second = await apply_once(kit_db, "inventory", message, _effect(marker), SystemClock())

    assert (first, second) == (message.id, None)  # the effect's answer; None: handled before
    assert await _count_effects(kit_db, marker) == 1


async def test_concurrent_deliveries_of_one_message_change_state_once(kit_db: Database) -> None:
    marker, message = uuid.uuid4().hex, _message()

    outcomes = await asyncio.gather(
        *(apply_once(kit_db, "inventory", message, _effect(marker), SystemClock()) for _ in range(8))
    )

    assert [outcome for outcome in outcomes if outcome is not None] == [message.id]
    assert await _count_effects(kit_db, marker) == 1


async def test_a_failed_effect_leaves_the_message_unhandled(kit_db: Database) -> None:
    marker, message = uuid.uuid4().hex, _message()

    async def failing(uow: UnitOfWork, envelope: Envelope) -> str:
        await _effect(marker)(uow, envelope)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await apply_once(kit_db, "inventory", message, failing, SystemClock())
    assert await apply_once(kit_db, "inventory", message, _effect(marker), SystemClock())
    assert await _count_effects(kit_db, marker) == 1


async def test_a_batch_applies_each_new_message_once_and_skips_what_was_handled(kit_db: Database) -> None:
    marker, seen, new = uuid.uuid4().hex, _message(), _message()
    await apply_once(kit_db, "inventory", seen, _effect(marker), SystemClock())

    ran = await apply_batch_once(kit_db, "inventory", [seen, new, new], _each(_effect(marker)), SystemClock())

    assert ran == [new.id]  # not the one handled before, nor the second copy in the same batch
    assert await _count_effects(kit_db, marker) == 2


async def test_a_batch_whose_effect_fails_leaves_nothing_behind(kit_db: Database) -> None:
    marker, first, poison = uuid.uuid4().hex, _message(), _message()
    count = _effect(marker)

    async def fails_on_poison(uow: UnitOfWork, envelope: Envelope) -> str:
        await count(uow, envelope)
        if envelope.id == poison.id:
            raise ValueError("poison")
        return envelope.id

    with pytest.raises(ValueError):
        await apply_batch_once(kit_db, "inventory", [first, poison], _each(fails_on_poison), SystemClock())
    again = await apply_once(kit_db, "inventory", first, _effect(marker), SystemClock())

    assert again == first.id  # the batch recorded nothing: the first message is new to a retry
    assert await _count_effects(kit_db, marker) == 1


def _each(effect):
    """A batch effect that applies `effect` to each new event in turn, and answers their answers."""
    async def each(uow: UnitOfWork, envelopes: list[Envelope]) -> list[object]:
        return [await effect(uow, envelope) for envelope in envelopes]
    return each


async def test_an_effect_announces_in_the_inbox_unit_of_work_and_its_answer_comes_back(kit_db: Database) -> None:
    kit_db.producer, message = "inventory", _message()
    woken: list[bool] = []
    kit_db.on_events_committed(lambda: woken.append(True))
    caused = Envelope.new(source="inventory", type="ReservationConfirmed", subject="o-1", data={},
                          now_ms=SystemClock().now_ms())

    async def confirm(uow: UnitOfWork, envelope: Envelope) -> str:
        await uow.announce(caused, aggregate_id=envelope.subject)
        return "confirmed"

    first = await apply_once(kit_db, "inventory", message, confirm, SystemClock())
    again = await apply_once(kit_db, "inventory", message, confirm, SystemClock())

    assert (first, again) == ("confirmed", None)
    assert woken == [True]  # the redelivery announced nothing
    async with kit_db.read() as conn:
        assert await conn.scalar(sa.select(outbox.c.subject).where(outbox.c.event_id == caused.id)) == (
            "inventory.ReservationConfirmed")


# An effect written as one statement (PostgreSQL): one outbox row tagged with the marker, written
# only if the message is new, the message recorded under the same condition.
_RECORDING_EFFECT = Statement(sa.text(f"""
WITH effect AS (
    INSERT INTO {outbox.name} (event_id, subject, aggregate_id, envelope, created_at_ms)
    SELECT CAST(:event_id AS text), 'effects', CAST(:marker AS text), '{{}}', 0 WHERE {NOT_RECORDED}
    RETURNING position
), {recording_cte("EXISTS (SELECT FROM effect)")}
SELECT position FROM effect
""").columns(position=sa.BigInteger))


async def _apply_in_one_statement(db: Database, message: Envelope, marker: str) -> bool:
    """Whether the statement applied the effect; IntegrityError when a concurrent copy recorded first."""
    async with db.single_statement() as uow:
        row = (await _RECORDING_EFFECT.run(uow.conn, {
            "event_id": str(uuid.uuid4()), "marker": marker, **recording_values("inventory", message, 0)})).first()
    return row is not None


async def test_an_effect_in_one_statement_records_its_message_and_happens_once(postgres_kit_db: Database) -> None:
    marker, message = uuid.uuid4().hex, _message()

    first = await _apply_in_one_statement(postgres_kit_db, message, marker)
    second = await _apply_in_one_statement(postgres_kit_db, message, marker)

    assert (first, second) == (True, False)
    assert await _count_effects(postgres_kit_db, marker) == 1
    assert await was_handled(postgres_kit_db, "inventory", message.id)


async def test_concurrent_copies_of_an_effect_in_one_statement_happen_once(postgres_kit_db: Database) -> None:
    marker, message = uuid.uuid4().hex, _message()

    outcomes = await asyncio.gather(
        *(_apply_in_one_statement(postgres_kit_db, message, marker) for _ in range(8)), return_exceptions=True)

    assert [outcome for outcome in outcomes if outcome is True] == [True]
    assert all(outcome is False or isinstance(outcome, IntegrityError) for outcome in outcomes if outcome is not True)
    assert await _count_effects(postgres_kit_db, marker) == 1
