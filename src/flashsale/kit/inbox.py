"""The inbox: exactly-once effects from at-least-once delivery.

A consumer records `(consumer, message_id)` in the same transaction as its effect. If the row is
already there the message was handled before (a redelivery, or the same event published twice):
the effect is skipped and the message acked. Two concurrent deliveries of one message serialise
on the primary key; the loser finds the row and does nothing.

Both answer what the effect answered, once it has committed (None from `apply_once` when the
message was handled before and the effect did not run), so a consumer acts on what happened
(metrics, a wake-up) without carrying it out of the effect by hand.

An effect written as ONE statement (PostgreSQL, `Database.single_statement`) records its message
in that statement: `recording_cte` writes the inbox row under the same condition as the change,
and `NOT_RECORDED` makes the change itself conditional on the message being new, so the two
commit together or neither does (inventory/store/deduction.py). The consumer then reports it as
`applied`, as `apply_once` would.

`apply_batch_once` does the same for a fetched batch in one transaction (one statement records
every event, and the effect gets the new ones in the batch's order, to fold as it likes):
for a consumer whose effects are small and come in crowds (a read model of every hold), a
transaction per event was most of what each event cost. It commits whole or not at all; the bus
then delivers the batch one event at a time (kit.bus), so a poison event is retried alone.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit import propagation
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.schema import inbox
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import Statement, per_dialect
from flashsale.kit.telemetry import metrics
from flashsale.kit.unit_of_work import UnitOfWork

T = TypeVar("T")
Effect = Callable[[UnitOfWork, Envelope], Awaitable[T]]


async def record_txn(conn: AsyncConnection, consumer: str, message_id: str, now_ms: int) -> bool:
    """Record the message as handled; False if it already was (inside the caller's transaction)."""
    result = await _RECORD.run(conn, {"b_consumer": consumer, "b_message_id": message_id, "b_now": now_ms})
    return bool(result.rowcount == 1)


@per_dialect
def _RECORD(dialect: str) -> sa.Insert:
    """Built once per dialect (kit/statements.py says why): every event a consumer handles runs it."""
    statement: sa.Insert = dialect_insert(dialect, inbox).values(
        consumer=sa.bindparam("b_consumer"), message_id=sa.bindparam("b_message_id"),
        processed_at_ms=sa.bindparam("b_now"),
    ).on_conflict_do_nothing()
    return statement


@functools.cache
def _record_all(count: int) -> Statement:
    """Record `count` messages in one statement, answering those that were new; built once per
    batch size (a batch holds at most kit.pulling's MOST_AT_ONCE), not per batch: built anew, its
    SQLAlchemy construction and compilation were most of what a small batch cost its consumer."""

    def build(dialect: str) -> sa.Insert:
        rows: list[dict[str, object]] = [
            {"consumer": sa.bindparam("b_consumer"), "message_id": sa.bindparam(f"b_id_{n}"),
             "processed_at_ms": sa.bindparam("b_now")}
            for n in range(count)
        ]
        statement: sa.Insert = (dialect_insert(dialect, inbox).values(rows).on_conflict_do_nothing()
                                .returning(inbox.c.message_id))
        return statement

    return per_dialect(build)


async def apply_once(
    db: Database, consumer: str, envelope: Envelope, effect: Effect[T], clock: Clock
) -> T | None:
    """Run `effect` and record the message in one unit of work, unless it was handled already:
    what the effect answered, once committed, or None when the message was handled before (the
    effect did not run). An effect whose caller must tell the two apart answers something else
    than None."""
    try:
        async with db.unit_of_work() as uow:
            if not await record_txn(uow.conn, consumer, envelope.id, clock.now_ms()):
                metrics.consumed.labels(consumer, envelope.type, "duplicate").inc()
                return None
            value = await effect(uow, envelope)
    except IntegrityError:
        # A concurrent delivery of the same message won the race for the inbox row.
        if await was_handled(db, consumer, envelope.id):
            metrics.consumed.labels(consumer, envelope.type, "duplicate").inc()
            return None
        raise
    applied(consumer, envelope)
    return value


def applied(consumer: str, envelope: Envelope) -> None:
    """`envelope`'s effect, with its inbox row, has committed: counted, and its propagation seen."""
    metrics.consumed.labels(consumer, envelope.type, "applied").inc()
    propagation.watch.applied(consumer, envelope)  # committed: the event's effect is visible now


# PostgreSQL, for an effect written as one statement of data-modifying CTEs: its condition that
# the message was not handled before, and the CTE that records it only when `when` holds (SQL,
# e.g. `EXISTS (SELECT FROM confirmed)`); their values come from `recording_values`. A concurrent
# delivery that recorded the message first makes the statement fail on the inbox's key, which
# writes nothing either.
NOT_RECORDED = (f"NOT EXISTS (SELECT FROM {inbox.name} WHERE consumer = CAST(:inbox_consumer AS text) "
                "AND message_id = CAST(:inbox_message_id AS text))")


def recording_cte(when: str) -> str:
    return f"""recorded AS (
    INSERT INTO {inbox.name} (consumer, message_id, processed_at_ms)
    SELECT CAST(:inbox_consumer AS text), CAST(:inbox_message_id AS text), CAST(:inbox_now AS bigint)
    WHERE {when}
)"""


def recording_values(consumer: str, envelope: Envelope, now_ms: int) -> dict[str, object]:
    return {"inbox_consumer": consumer, "inbox_message_id": envelope.id, "inbox_now": now_ms}


BatchEffect = Callable[[UnitOfWork, list[Envelope]], Awaitable[T]]


async def apply_batch_once(
    db: Database, consumer: str, envelopes: Sequence[Envelope], effect: BatchEffect[T], clock: Clock
) -> T:
    """Record the batch's events and run `effect` once with those not handled before (in the
    batch's order, each once; none, when all were), in one unit of work: one statement records
    them all, and the effect may fold them (a product's level written once for all its events).
    What the effect answered, once committed (a second copy of an event in the batch is not new)."""
    ids = list(dict.fromkeys(envelope.id for envelope in envelopes))
    values: dict[str, object] = {"b_consumer": consumer, "b_now": clock.now_ms()}
    values.update((f"b_id_{n}", message_id) for n, message_id in enumerate(ids))
    async with db.unit_of_work() as uow:
        fresh = {row[0] for row in await _record_all(len(ids)).run(uow.conn, values)}
        ran = []
        for envelope in envelopes:
            ran.append(envelope.id in fresh)
            fresh.discard(envelope.id)  # a second copy in the batch is not new
        value = await effect(uow, [envelope for envelope, new in zip(envelopes, ran, strict=True) if new])
    for envelope, new in zip(envelopes, ran, strict=True):
        metrics.consumed.labels(consumer, envelope.type, "applied" if new else "duplicate").inc()
        if new:
            propagation.watch.applied(consumer, envelope)
    return value


async def was_handled(db: Database, consumer: str, message_id: str) -> bool:
    async with db.read() as conn:
        found = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(inbox)
            .where(inbox.c.consumer == consumer, inbox.c.message_id == message_id)
        )
    return bool(found)
