"""The reporting store: an embedded DuckDB file, its one connection, and nothing else's SQL.

DuckDB calls block, so each runs in a worker thread; one connection serves them all, one at a
time (a lock), and this process is the file's only writer (DuckDB locks the file against others).
Exactly once: the event id is the primary key, an insert skips ids already there, and the caller
acks a message only after `record` has returned.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from flashsale.services.reporting import queries
from flashsale.services.reporting.domain import Fact, Money, Orders, Point, ProductSales, Units, first_of_each

T = TypeVar("T")
Row = tuple[Any, ...]
# How long to wait for the file while another process still holds it (a predecessor shutting down).
OPEN_WAIT_S = 15.0
# Facts per INSERT: one statement per fetched batch of messages (the bus fetches 100 at most).
INSERT_ROWS = 100


class ReportStore:
    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: Path) -> ReportStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        async for attempt in AsyncRetrying(stop=stop_after_delay(OPEN_WAIT_S), wait=wait_fixed(0.25),
                                           retry=retry_if_exception_type(duckdb.IOException), reraise=True):
            with attempt:
                connection = await asyncio.to_thread(_connect, path)
        return cls(connection)

    async def close(self) -> None:
        await self._run(lambda connection: connection.close())

    async def _run(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return await asyncio.to_thread(self._locked, work)

    def _locked(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        with self._lock:
            return work(self._connection)

    # -- writing ----------------------------------------------------------------------------

    async def record(self, facts: Sequence[Fact], recorded_ms: int) -> set[str]:
        """Store the facts not stored before; returns the ids of those that were new."""
        unique = first_of_each(facts)
        batches = [unique[start:start + INSERT_ROWS] for start in range(0, len(unique), INSERT_ROWS)]
        return await self._run(lambda connection: _insert(connection, batches, recorded_ms))

    # -- reading ----------------------------------------------------------------------------

    async def sales(self, product_id: str | None, bucket_ms: int) -> list[ProductSales]:
        """Per product (one, or every product heard of), in product id order."""
        return await self._run(lambda connection: _sales(connection, product_id, bucket_ms))

    async def counts(self) -> dict[str, int]:
        """Events stored, per type."""
        rows = await self._run(lambda connection: connection.execute(queries.COUNTS).fetchall())
        return {str(kind): int(count) for kind, count in rows}


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(path))
    connection.execute(queries.SCHEMA)
    return connection


def _insert(connection: duckdb.DuckDBPyConnection, batches: list[list[Fact]], recorded_ms: int) -> set[str]:
    """All batches in one transaction: a batch of messages is acked as a whole."""
    stored: set[str] = set()
    connection.begin()
    try:
        for facts in batches:
            values = [value for fact in facts for value in _row(fact, recorded_ms)]
            new = connection.execute(queries.insert_facts(len(facts)), values).fetchall()
            stored.update(str(row[0]) for row in new)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return stored


def _row(fact: Fact, recorded_ms: int) -> list[object]:
    return [
        fact.event_id, fact.type, fact.producer, fact.subject, fact.happened_ms, fact.order_id,
        fact.reservation_id, fact.amount_cents, fact.reason, fact.stage, fact.refunded,
        [product_id for product_id, _ in fact.lines], [units for _, units in fact.lines],
        orjson.dumps(dict(fact.data)).decode(), recorded_ms,
    ]


def _sales(connection: duckdb.DuckDBPyConnection, product_id: str | None, bucket_ms: int) -> list[ProductSales]:
    def rows(sql: str, **extra: object) -> list[Row]:
        return connection.execute(sql, {"product": product_id, **extra}).fetchall()

    units = {row[0]: Units(*(int(v) for v in row[1:])) for row in rows(queries.UNITS)}
    cancelled: dict[str, dict[str, int]] = defaultdict(dict)
    for product, reason, count in rows(queries.CANCELLATIONS):
        cancelled[product][reason] = int(count)
    orders = {row[0]: Orders(int(row[1]), int(row[2]), int(row[3]), dict(sorted(cancelled[row[0]].items())))
              for row in rows(queries.ORDERS)}
    money = {row[0]: Money(*(int(v) for v in row[1:])) for row in rows(queries.MONEY)}
    series: dict[str, list[Point]] = defaultdict(list)
    for row in rows(queries.SERIES, bucket_ms=bucket_ms):
        series[row[0]].append(Point(*(int(v) for v in row[1:])))
    products = sorted(set(units) | set(orders) | set(money))
    return [
        ProductSales(product, units.get(product, Units()), orders.get(product, Orders()),
                     money.get(product, Money()), tuple(series[product]))
        for product in products
    ]
