"""The unit of work: one write transaction and the events it announces.

`async with db.unit_of_work() as uow:` opens a write transaction (`Database.unit_of_work`):
`uow.conn` runs its statements, and `uow.announce(envelope, aggregate_id=...)` writes the event to
the outbox in that same transaction, so the change and the fact that announces it commit together
or not at all (no dual write). Once the unit has committed, and only if it announced something,
the relay of this process is woken (`Database.on_events_committed`), so the event goes out at
once rather than at the relay's next poll. A unit that rolls back announced nothing and wakes no
one. Every event goes out under the producer its database announces as (`Database.connect`'s
`producer`: the service's name, which is also its stream's).

Where a transaction comes from: a function that runs inside its caller's unit of work is named
`x_txn` and takes `uow` when it announces (or calls one that does), `conn` (`uow.conn`) when it
only runs statements: the first parameter says what it may do there.

A single statement committed on its own (PostgreSQL, `Database.single_statement`) is a unit of
work too, of one statement: `uow.conn` for a change that announces nothing, or
`execute_announcing` for one that announces what it changed in its own data-modifying CTE
(`announcing_cte`): the only way a single statement can announce atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import ms_from_iso
from flashsale.kit.envelope import Envelope, nats_subject
from flashsale.kit.schema import outbox
from flashsale.kit.statements import Statement


@dataclass(frozen=True, slots=True)
class Announcement:
    """An event as the outbox row that announces it, made ahead of the statement that writes it
    (`Database.announcement`, `UnitOfWork.execute_announcing`)."""

    event_id: str
    subject: str
    aggregate_id: str
    envelope: str
    created_at_ms: int


class UnitOfWork:
    """A write transaction (`conn`) and what it announces, committed together."""

    __slots__ = ("_one_statement", "_producer", "announced", "conn")

    def __init__(self, conn: AsyncConnection, producer: str | None, *, one_statement: bool = False) -> None:
        self.conn = conn
        self.announced = False  # whether the relay has something new once this commits
        self._producer = producer
        self._one_statement = one_statement

    async def announce(self, envelope: Envelope, *, aggregate_id: str) -> None:
        """Add `envelope` to the outbox in this unit's transaction. Write it after the change it
        announces: the change's row lock then orders the positions of one aggregate's events."""
        self._many_statements()
        await _APPEND.run(self.conn, {
            "b_event_id": envelope.id, "b_subject": self._subject(envelope), "b_aggregate_id": aggregate_id,
            "b_envelope": envelope.to_bytes().decode(), "b_created_at_ms": ms_from_iso(envelope.time),
        })
        self.announced = True

    async def announce_all(self, envelopes: Sequence[tuple[Envelope, str]]) -> None:
        """Add several (envelope, aggregate id) to the outbox, in this order (the positions they
        draw follow it): on PostgreSQL one pipelined round trip for them all (`Statement.run`)."""
        if not envelopes:
            return
        self._many_statements()
        await _APPEND.run(self.conn, [
            {"b_event_id": envelope.id, "b_subject": self._subject(envelope), "b_aggregate_id": aggregate_id,
             "b_envelope": envelope.to_bytes().decode(), "b_created_at_ms": ms_from_iso(envelope.time)}
            for envelope, aggregate_id in envelopes
        ])
        self.announced = True

    async def execute_announcing(
        self, statement: Statement, params: Mapping[str, object], announcements: Sequence[Announcement],
    ) -> Any:
        """Run `statement` (SQL text with its result columns named, `sa.text(...).columns(...)`:
        run by asyncpg, kit/statements.py), which announces `announcements` in its
        `announcing_cte` under the same condition as the change it makes (PostgreSQL). Its first
        row, or None: a statement that answers no row changed nothing, and so announced nothing."""
        result = await statement.run(self.conn, {**params, **_columns(announcements)})
        row = result.first()
        if row is not None and announcements:
            self.announced = True
        return row

    def _subject(self, envelope: Envelope) -> str:
        return nats_subject(_producer(self._producer), envelope.type)

    def _many_statements(self) -> None:
        if self._one_statement:
            raise RuntimeError("a single statement announces in its own CTE: use execute_announcing")


def announcement(producer: str | None, envelope: Envelope, *, aggregate_id: str) -> Announcement:
    """`envelope` as the outbox row that announces it under `producer`."""
    return Announcement(
        event_id=envelope.id, subject=nats_subject(_producer(producer), envelope.type), aggregate_id=aggregate_id,
        envelope=envelope.to_bytes().decode(), created_at_ms=ms_from_iso(envelope.time),
    )


def announcing_cte(when: str) -> str:
    """PostgreSQL: `announced AS (...)`, a data-modifying CTE for a statement run by
    `UnitOfWork.execute_announcing`. It writes that call's announcements to the outbox in their
    order (their positions follow it), only when `when` (SQL, e.g. `EXISTS (SELECT FROM taken)`)
    holds; columns go in as arrays, so the statement's text is the same however many there are."""
    return f"""announced AS (
    INSERT INTO {outbox.name} (event_id, subject, aggregate_id, envelope, created_at_ms)
    SELECT e.event_id, e.subject, e.aggregate_id, e.envelope, e.created_at_ms
    FROM unnest(CAST(:announced_event_ids AS text[]), CAST(:announced_subjects AS text[]),
                CAST(:announced_aggregate_ids AS text[]), CAST(:announced_envelopes AS text[]),
                CAST(:announced_created_at_ms AS bigint[])) WITH ORDINALITY
         AS e(event_id, subject, aggregate_id, envelope, created_at_ms, arrival)
    WHERE {when}
    ORDER BY e.arrival
)"""


def _columns(announcements: Sequence[Announcement]) -> dict[str, list[object]]:
    """The bind parameters of `announcing_cte`: each column of the announcements as an array."""
    return {
        "announced_event_ids": [a.event_id for a in announcements],
        "announced_subjects": [a.subject for a in announcements],
        "announced_aggregate_ids": [a.aggregate_id for a in announcements],
        "announced_envelopes": [a.envelope for a in announcements],
        "announced_created_at_ms": [a.created_at_ms for a in announcements],
    }


def _producer(producer: str | None) -> str:
    if producer is None:
        raise RuntimeError("this database announces as no one: give Database.connect the service's name (producer)")
    return producer


# Built once (kit/statements.py says why): every event a service announces alone is written by it.
# Inline: no implicit RETURNING of the row's position, which nobody reads, so a list of rows
# (`announce_all`) runs lean too: a statement that answers rows is SQLAlchemy's to run for several.
_APPEND = Statement(outbox.insert().inline().values(
    event_id=sa.bindparam("b_event_id"), subject=sa.bindparam("b_subject"), aggregate_id=sa.bindparam("b_aggregate_id"),
    envelope=sa.bindparam("b_envelope"), created_at_ms=sa.bindparam("b_created_at_ms"),
))
