"""The reporting store: the projection's tables in its own database, and nothing else's SQL.

Exactly once: the event id is the primary key, an insert skips ids already there, and the caller
acks a message only after `record` has returned. A fetched batch is one transaction: on PostgreSQL
one statement (`_RECORD_NEW`), on SQLite two (`_RECORD_NEW_SQLITE`, then the new facts' lines).

(This store was an embedded DuckDB file until it was measured: DuckDB held ~60-90 MB of the
process's ~175 MB under a sale, past the 120 MB each service process may take, and let one
process write its file. The reports are plain SQL, the same on SQLite and PostgreSQL.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.db import Database
from flashsale.kit.statements import Statement
from flashsale.services.reporting import queries
from flashsale.services.reporting.domain import Fact, Money, Orders, Point, ProductSales, Units, first_of_each

metadata = sa.MetaData()
events = sa.Table(
    "events", metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("producer", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("happened_ms", sa.BigInteger, nullable=False),
    sa.Column("order_id", sa.String(100)),
    sa.Column("reservation_id", sa.String(100)),
    sa.Column("amount_cents", sa.BigInteger),
    sa.Column("reason", sa.String(100)),
    sa.Column("stage", sa.String(40)),
    sa.Column("refunded", sa.Boolean),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("recorded_ms", sa.BigInteger, nullable=False),
)
event_lines = sa.Table(
    "event_lines", metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("product_id", sa.String(100), nullable=False),
    sa.Column("units", sa.BigInteger, nullable=False),
)


class ReportStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing ----------------------------------------------------------------------------

    async def record(self, facts: Sequence[Fact], recorded_ms: int) -> set[str]:
        """Store the facts not stored before; returns the ids of those that were new."""
        unique = first_of_each(facts)
        if not self.db.is_sqlite:
            async with self.db.single_statement() as uow:
                inserted = await _RECORD_NEW.run(uow.conn, _as_columns(unique, recorded_ms))
            return {str(row.event_id) for row in inserted}
        async with self.db.transaction() as conn:
            rows = [_event_row(fact, recorded_ms) for fact in unique]
            inserted = await _RECORD_NEW_SQLITE.run(conn, {"rows": _as_json_rows(events, rows)})
            new = {str(row.event_id) for row in inserted}
            lines = _line_rows([fact for fact in unique if fact.event_id in new])
            if lines:
                await _RECORD_LINES_SQLITE.run(conn, {"lines": _as_json_rows(event_lines, lines)})
        return new

    # -- reading ----------------------------------------------------------------------------

    async def sales(self, product_id: str | None, bucket_ms: int) -> list[ProductSales]:
        """Per product (one, or every product heard of), in product id order."""
        async with self.db.read() as conn:
            return await _sales(conn, product_id, bucket_ms)

    async def counts(self) -> dict[str, int]:
        """Events stored, per type."""
        async with self.db.read() as conn:
            rows = await conn.execute(sa.text(queries.COUNTS))
        return {str(kind): int(count) for kind, count in rows}


# PostgreSQL: a batch's new facts and their lines in ONE statement, run on its own (autocommit: a
# statement commits whole or not at all). Each column goes in as an array (unnest), so its text is
# the same for every batch size: prepared once and run by asyncpg (kit/statements.py). The two
# INSERTs of `_insert_txn` below go through SQLAlchemy's multi-row rendering, row by row, in a
# transaction: ~1.6-1.9 ms of CPU for a batch of five facts, against ~0.45 ms this way (one
# process, PostgreSQL).
_RECORD_NEW = Statement(sa.text(f"""
WITH new AS (
    INSERT INTO {events.name} (event_id, type, producer, subject, happened_ms, order_id, reservation_id,
                               amount_cents, reason, stage, refunded, data, recorded_ms)
    SELECT * FROM unnest(
        CAST(:event_id AS text[]), CAST(:type AS text[]), CAST(:producer AS text[]), CAST(:subject AS text[]),
        CAST(:happened_ms AS bigint[]), CAST(:order_id AS text[]), CAST(:reservation_id AS text[]),
        CAST(:amount_cents AS bigint[]), CAST(:reason AS text[]), CAST(:stage AS text[]),
        CAST(:refunded AS boolean[]), CAST(:data AS text[]), CAST(:recorded_ms AS bigint[]))
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), lines AS (
    INSERT INTO {event_lines.name} (event_id, line_no, product_id, units)
    SELECT l.event_id, l.line_no, l.product_id, l.units
    FROM unnest(CAST(:line_event_id AS text[]), CAST(:line_line_no AS integer[]),
                CAST(:line_product_id AS text[]), CAST(:line_units AS bigint[]))
         AS l(event_id, line_no, product_id, units)
    JOIN new ON new.event_id = l.event_id
)
SELECT event_id FROM new
""").columns(event_id=sa.String))


def _as_columns(facts: Sequence[Fact], recorded_ms: int) -> dict[str, list[Any]]:
    """`_RECORD_NEW`'s parameters: the rows of the facts and of their lines, column by column."""
    rows = [_event_row(fact, recorded_ms) for fact in facts]
    lines = _line_rows(facts)
    return ({column.name: [row[column.name] for row in rows] for column in events.c}
            | {f"line_{column.name}": [line[column.name] for line in lines] for column in event_lines.c})


# SQLite: the same in two statements (SQLite has no INSERT inside a WITH), each of one SQL text
# for every batch size: the rows are bound as one JSON array of arrays, which json_each reads back,
# so both are prepared once and run lean (kit/statements.py). The multi-row INSERTs they replace
# were rendered by SQLAlchemy for each batch and ran through its whole machinery. (`WHERE true`:
# SQLite's grammar needs it between an INSERT's SELECT and its ON CONFLICT.)
def _from_json_rows(table: sa.Table, name: str) -> str:
    """`table`'s columns, read from the JSON rows bound to `name` (each row: the columns in order)."""
    names = ", ".join(column.name for column in table.c)
    values = ", ".join(f"json_extract(value, '$[{n}]')" for n in range(len(table.c)))
    return f"INSERT INTO {table.name} ({names}) SELECT {values} FROM json_each(:{name})"


_RECORD_NEW_SQLITE = Statement(sa.text(f"""
{_from_json_rows(events, "rows")} WHERE true
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
""").columns(event_id=sa.String))
# `.columns()` with none: a statement known to answer no rows, which kit/statements.py can run
# lean (plain text it leaves to SQLAlchemy, as only running it tells whether it answers rows).
_RECORD_LINES_SQLITE = Statement(sa.text(_from_json_rows(event_lines, "lines")).columns())


def _as_json_rows(table: sa.Table, rows: Sequence[dict[str, Any]]) -> str:
    """`rows` of `table` as `_from_json_rows` reads them."""
    return orjson.dumps([[row[column.name] for column in table.c] for row in rows]).decode()


def _event_row(fact: Fact, recorded_ms: int) -> dict[str, Any]:
    return {
        "event_id": fact.event_id, "type": fact.type, "producer": fact.producer, "subject": fact.subject,
        "happened_ms": fact.happened_ms, "order_id": fact.order_id, "reservation_id": fact.reservation_id,
        "amount_cents": fact.amount_cents, "reason": fact.reason, "stage": fact.stage, "refunded": fact.refunded,
        "data": orjson.dumps(dict(fact.data)).decode(), "recorded_ms": recorded_ms,
    }


def _line_rows(facts: Sequence[Fact]) -> list[dict[str, Any]]:
    return [{"event_id": f.event_id, "line_no": n, "product_id": product_id, "units": units}
            for f in facts for n, (product_id, units) in enumerate(f.lines)]


async def _sales(conn: AsyncConnection, product_id: str | None, bucket_ms: int) -> list[ProductSales]:
    async def rows(sql: str, **extra: object) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await conn.execute(sa.text(sql), {"product": product_id, **extra})]

    units = {row[0]: Units(*(int(v) for v in row[1:])) for row in await rows(queries.UNITS)}
    cancelled: dict[str, dict[str, int]] = defaultdict(dict)
    for product, reason, count in await rows(queries.CANCELLATIONS):
        cancelled[product][reason] = int(count)
    orders = {row[0]: Orders(int(row[1]), int(row[2]), int(row[3]), dict(sorted(cancelled[row[0]].items())))
              for row in await rows(queries.ORDERS)}
    money = {row[0]: Money(*(int(v) for v in row[1:])) for row in await rows(queries.MONEY)}
    series: dict[str, list[Point]] = defaultdict(list)
    for row in await rows(queries.SERIES, bucket_ms=bucket_ms):
        series[row[0]].append(Point(*(int(v) for v in row[1:])))
    products = sorted(set(units) | set(orders) | set(money))
    return [
        ProductSales(product, units.get(product, Units()), orders.get(product, Orders()),
                     money.get(product, Money()), tuple(series[product]))
        for product in products
    ]
