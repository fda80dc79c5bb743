"""Retention: the kit's tables forget what nobody needs any more, and nothing that is still needed."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from flashsale.kit.bus import DEDUPE_WINDOW_S
from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.idempotency import Answer, IdempotencyStore
from flashsale.kit.inbox import apply_once
from flashsale.kit.retention import RetentionPolicy, prune
from flashsale.kit.schema import outbox

pytestmark = pytest.mark.service

HOUR_MS = 3_600_000
POLICY = RetentionPolicy(outbox_s=3600, inbox_s=3600, idempotency_s=3600, batch=3)


async def _outbox_row(db: Database, *, created_ms: int, published_ms: int | None) -> str:
    event_id = str(uuid.uuid4())
    async with db.transaction() as conn:
        await conn.execute(outbox.insert().values(
            event_id=event_id, subject="retention", aggregate_id="a", envelope="{}", created_at_ms=created_ms,
            published_at_ms=published_ms,
        ))
    return event_id


async def _outbox_ids(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.scalars(sa.select(outbox.c.event_id))).all())


async def test_published_rows_go_after_the_retention_and_unpublished_ones_never(kit_db: Database) -> None:
    now = 100 * HOUR_MS
    old_published = [await _outbox_row(kit_db, created_ms=0, published_ms=HOUR_MS) for _ in range(7)]
    never_published = await _outbox_row(kit_db, created_ms=0, published_ms=None)  # the broker was down for days
    lately_published = await _outbox_row(kit_db, created_ms=0, published_ms=now - 60_000)

    deleted = await prune(kit_db, POLICY, now)

    assert deleted["outbox"] == len(old_published)  # in batches of 3: 3 + 3 + 1
    assert await _outbox_ids(kit_db) == {never_published, lately_published}


async def test_an_inbox_forgets_a_message_only_after_its_retention(kit_db: Database) -> None:
    clock = ManualClock(10 * HOUR_MS)
    message = Envelope.new(source="orders", type="OrderConfirmed", subject="o-1", data={}, now_ms=clock.now_ms())
    effects: list[str] = []

    async def effect(uow: object, envelope: Envelope) -> bool:
        effects.append(envelope.id)
        return True

    assert await apply_once(kit_db, "inventory", message, effect, clock)
    await prune(kit_db, POLICY, clock.now_ms() + HOUR_MS - 1000)  # within the retention: kept
    assert not await apply_once(kit_db, "inventory", message, effect, clock)  # a redelivery is still caught

    deleted = await prune(kit_db, POLICY, clock.now_ms() + HOUR_MS + 1000)

    assert deleted["inbox"] == 1
    assert effects == [message.id]


async def test_an_idempotency_key_replays_within_its_retention_and_is_new_after(kit_db: Database) -> None:
    clock = ManualClock(10 * HOUR_MS)
    store, key, calls = IdempotencyStore(kit_db, clock), str(uuid.uuid4()), []

    async def work() -> Answer:
        calls.append(key)
        return Answer(201, {"n": len(calls)})

    first = await store.run("create-order", key, b"{}", work)
    await prune(kit_db, POLICY, clock.now_ms() + HOUR_MS - 1000)
    replayed = await store.run("create-order", key, b"{}", work)
    await prune(kit_db, POLICY, clock.now_ms() + HOUR_MS + 1000)
    after = await store.run("create-order", key, b"{}", work)

    assert (first.body, replayed.body, after.body) == ({"n": 1}, {"n": 1}, {"n": 2})


def test_an_inbox_retention_shorter_than_the_brokers_duplicate_window_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate window"):
        RetentionPolicy(inbox_s=DEDUPE_WINDOW_S)
