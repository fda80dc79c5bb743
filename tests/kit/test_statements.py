"""Statements built once and run lean (kit/statements.py), against real SQLite and PostgreSQL:
they answer what SQLAlchemy's own execution answers, inside the caller's transaction, and fail
the way it fails."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from flashsale.kit.db import Database
from flashsale.kit.errors import DatabaseUnavailable
from flashsale.kit.schema import outbox
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import Statement, none_of, one_of, per_dialect

pytestmark = pytest.mark.service

_ADD = Statement(outbox.insert().values(
    event_id=sa.bindparam("b_event_id"), subject="things.Added", aggregate_id=sa.bindparam("b_aggregate_id"),
    envelope="{}", created_at_ms=sa.bindparam("b_at"),
))
_BY_AGGREGATE = Statement(
    sa.select(outbox.c.event_id, outbox.c.subject, outbox.c.created_at_ms, outbox.c.published_at_ms)
    .where(outbox.c.aggregate_id == sa.bindparam("b_aggregate_id")).order_by(outbox.c.position)
)
_PUBLISH = Statement(outbox.update().where(outbox.c.aggregate_id == sa.bindparam("b_aggregate_id"))
                     .values(published_at_ms=sa.bindparam("b_at")))
_EVENTS_IN = Statement(sa.select(outbox.c.event_id).where(
    outbox.c.event_id.in_(sa.bindparam("b_ids", expanding=True))).order_by(outbox.c.event_id))


@per_dialect
def _ADD_UNLESS_PRESENT(dialect: str) -> sa.Insert:
    insert: sa.Insert = dialect_insert(dialect, outbox).values(
        event_id=sa.bindparam("b_event_id"), subject="things.Added", aggregate_id=sa.bindparam("b_aggregate_id"),
        envelope="{}", created_at_ms=0,
    ).on_conflict_do_nothing(index_elements=[outbox.c.event_id])
    return insert


def _ids(n: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(n)]


async def _added(db: Database, n: int) -> tuple[str, list[str]]:
    """`n` events of a new aggregate, written in one transaction: the aggregate, the events' ids sorted."""
    aggregate, events = uuid.uuid4().hex, sorted(_ids(n))
    async with db.transaction() as conn:
        for event_id in events:
            await _ADD.run(conn, {"b_event_id": event_id, "b_aggregate_id": aggregate, "b_at": 1})
    return aggregate, events


async def test_rows_and_counts_are_what_sqlalchemy_answers(kit_db: Database) -> None:
    aggregate = uuid.uuid4().hex
    events = _ids(3)
    async with kit_db.transaction() as conn:
        for n, event_id in enumerate(events):
            added = await _ADD.run(conn, {"b_event_id": event_id, "b_aggregate_id": aggregate, "b_at": 10 + n})
            assert added.rowcount == 1
        published = await _PUBLISH.run(conn, {"b_aggregate_id": aggregate, "b_at": 99})
        assert published.rowcount == 3

    async with kit_db.read() as conn:
        lean = (await _BY_AGGREGATE.run(conn, {"b_aggregate_id": aggregate})).all()
        plain = (await conn.execute(_BY_AGGREGATE(conn), {"b_aggregate_id": aggregate})).all()
        first = (await _BY_AGGREGATE.run(conn, {"b_aggregate_id": aggregate})).first()
        count = (await Statement(sa.select(sa.func.count()).select_from(outbox)).run(conn)).scalar()
        nothing = (await _BY_AGGREGATE.run(conn, {"b_aggregate_id": "nobody"})).first()

    assert [tuple(row) for row in lean] == [tuple(row) for row in plain]
    assert [row.event_id for row in lean] == events
    assert [row.created_at_ms for row in lean] == [10, 11, 12]
    assert {row.published_at_ms for row in lean} == {99}
    assert first is not None and dict(first._mapping) == dict(plain[0]._mapping) and first[1] == "things.Added"
    assert count == 3
    assert nothing is None


async def test_a_conflict_skipped_counts_no_row_and_a_duplicate_key_is_an_integrity_error(kit_db: Database) -> None:
    event_id, aggregate = uuid.uuid4().hex, uuid.uuid4().hex
    params = {"b_event_id": event_id, "b_aggregate_id": aggregate}
    async with kit_db.transaction() as conn:
        assert (await _ADD_UNLESS_PRESENT.run(conn, params)).rowcount == 1
        assert (await _ADD_UNLESS_PRESENT.run(conn, params)).rowcount == 0

    with pytest.raises(sa.exc.IntegrityError):
        async with kit_db.transaction() as conn:
            await _ADD.run(conn, {"b_event_id": event_id, "b_aggregate_id": aggregate, "b_at": 1})

    async with kit_db.read() as conn:  # the failed transaction changed nothing; the pool goes on
        assert len((await _BY_AGGREGATE.run(conn, {"b_aggregate_id": aggregate})).all()) == 1


async def test_a_transaction_begun_by_a_lean_statement_rolls_back_whole(kit_db: Database) -> None:
    aggregate = uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        async with kit_db.transaction() as conn:  # its first statement is the lean one: BEGIN must precede it
            await _ADD.run(conn, {"b_event_id": uuid.uuid4().hex, "b_aggregate_id": aggregate, "b_at": 1})
            await _ADD.run(conn, {"b_event_id": uuid.uuid4().hex, "b_aggregate_id": aggregate, "b_at": 2})
            raise RuntimeError("the work failed after both writes")

    async with kit_db.read() as conn:
        assert (await _BY_AGGREGATE.run(conn, {"b_aggregate_id": aggregate})).all() == []


async def test_an_expanding_in_runs_as_sqlalchemy_runs_it(kit_db: Database) -> None:
    _, events = await _added(kit_db, 3)
    async with kit_db.read() as conn:
        found = (await _EVENTS_IN.run(conn, {"b_ids": [events[0], events[2], "absent"]})).all()
    assert [row.event_id for row in found] == [events[0], events[2]]


async def test_a_connection_lost_under_a_lean_statement_is_an_outage_and_the_pool_recovers(
    postgres_kit_db: Database,
) -> None:
    db = postgres_kit_db
    backend = Statement(sa.select(sa.func.pg_backend_pid()))
    with pytest.raises(DatabaseUnavailable):
        async with db.transaction() as conn:
            pid = (await backend.run(conn)).scalar()
            async with db.read() as other:  # the server ends that session, as a restart would
                await other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await _ADD.run(conn, {"b_event_id": uuid.uuid4().hex, "b_aggregate_id": "lost", "b_at": 1})

    async with db.read() as conn:  # the lost connection was invalidated, not handed out again
        assert (await backend.run(conn)).scalar() is not None


_WHOLE_ROW = Statement(outbox.insert())  # its columns are whichever the rows name


async def test_rows_inserted_together_and_rows_that_leave_a_column_to_its_default(kit_db: Database) -> None:
    aggregate = uuid.uuid4().hex
    every_column = [{"position": None, "event_id": event_id, "subject": "things.Added", "aggregate_id": aggregate,
                     "envelope": "{}", "created_at_ms": 5, "published_at_ms": None} for event_id in _ids(2)]
    for row in every_column:
        del row["position"]  # left to the database: its sequence numbers the rows
    async with kit_db.transaction() as conn:
        await _WHOLE_ROW.run(conn, every_column)
        await _WHOLE_ROW.run(conn, [{**every_column[0], "event_id": uuid.uuid4().hex, "created_at_ms": 6}])
        await _WHOLE_ROW.run(conn, {**every_column[0], "event_id": uuid.uuid4().hex, "created_at_ms": 7})

    async with kit_db.read() as conn:
        rows = (await conn.execute(sa.select(outbox.c.position, outbox.c.created_at_ms)
                                   .where(outbox.c.aggregate_id == aggregate).order_by(outbox.c.position))).all()
    assert [row.created_at_ms for row in rows] == [5, 5, 6, 7]
    assert all(row.position is not None for row in rows)


async def test_a_type_that_checks_its_values_still_checks_them(kit_db: Database) -> None:
    flagged = sa.select(sa.bindparam("b_flag", type_=sa.Boolean()).label("flag"))
    async with kit_db.read() as conn:
        assert (await Statement(flagged).run(conn, {"b_flag": True})).scalar() in (True, 1)
        with pytest.raises(sa.exc.StatementError):
            await Statement(flagged).run(conn, {"b_flag": "yes"})


_NAMED_LIKE_METHODS = Statement(sa.select(sa.bindparam("b_n", type_=sa.Integer()).label("count"),
                                          sa.bindparam("b_s", type_=sa.String()).label("index")))


async def test_a_row_answers_by_its_columns_names_even_where_a_sequence_has_methods_of_that_name(
    kit_db: Database,
) -> None:
    async with kit_db.read() as conn:
        row = (await _NAMED_LIKE_METHODS.run(conn, {"b_n": 7, "b_s": "seventh"})).one()
    assert (row.count, row.index) == (7, "seventh")
    assert (row[0], row[1], len(row), tuple(row)) == (7, "seventh", 2, (7, "seventh"))
    assert dict(row._mapping) == {"count": 7, "index": "seventh"}
    with pytest.raises(AttributeError):
        _ = row.absent



_AMONG = per_dialect(lambda dialect: sa.select(outbox.c.event_id).where(
    outbox.c.aggregate_id == sa.bindparam("b_aggregate_id"), one_of(outbox.c.event_id, "b_ids", dialect),
).order_by(outbox.c.event_id))
_OUTSIDE = per_dialect(lambda dialect: sa.select(outbox.c.event_id).where(
    outbox.c.aggregate_id == sa.bindparam("b_aggregate_id"), none_of(outbox.c.position, "b_positions", dialect),
).order_by(outbox.c.event_id))


async def test_one_of_and_none_of_a_list_of_any_length_the_empty_one_included(kit_db: Database) -> None:
    aggregate, events = await _added(kit_db, 4)
    async with kit_db.read() as conn:
        positions = {row.event_id: row.position for row in await conn.execute(
            sa.select(outbox.c.event_id, outbox.c.position).where(outbox.c.aggregate_id == aggregate))}

        async def among(ids: list[str]) -> list[str]:
            return [row.event_id for row in await _AMONG.run(conn, {"b_aggregate_id": aggregate, "b_ids": ids})]

        async def outside(event_ids: list[str]) -> list[str]:
            chosen = [positions[event_id] for event_id in event_ids]
            return [row.event_id for row in await _OUTSIDE.run(conn, {"b_aggregate_id": aggregate,
                                                                      "b_positions": chosen})]

        assert await among([events[2], "absent", events[0]]) == [events[0], events[2]]
        assert await among(events) == events
        assert await among([]) == []
        assert await outside([events[1]]) == [events[0], events[2], events[3]]
        assert await outside(events[:3]) == [events[3]]
        assert await outside([]) == events
