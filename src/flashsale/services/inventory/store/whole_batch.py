"""PostgreSQL: a coalesced batch in which every hold fits, granted in ONE statement.

While a sale lasts, almost every batch is this case: the product has no purchase limit and its
stock covers the sum of the batch. Written as a transaction (batched.py) such a batch is a BEGIN,
a read of the orders' earlier holds, the conditional UPDATE, three INSERTs and a COMMIT: seven
round trips, and under load each one waits for its turn on the event loop behind the requests
being answered, so a batch of ~130 holds took ~100 ms of which ~16 ms was work (measured with
`inventory_hold_batch_seconds`). One batch per product is in flight at a time, so that wait was
the hot product's throughput.

Here the same writes are one statement of data-modifying CTEs, run in autocommit: the
conditional UPDATE takes the batch's sum, and the INSERTs of the reservations, their items and
their StockReserved events (in arrival order, so the outbox positions follow it) happen only if
it did. A statement commits whole or not at all. It answers the units left, or nothing when the
batch did not fit (or the product is unknown or limited): then the caller grants the batch the
general way, in a transaction, with partial fills and refusals in arrival order. An order id
that already holds stock (a retried reserve) makes the statement fail on the orders' unique
constraint, which also leaves everything as it was; the general way answers such repeats.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from flashsale.kit.db import Database
from flashsale.kit.statements import Statement
from flashsale.kit.unit_of_work import Announcement, UnitOfWork, announcing_cte
from flashsale.services.inventory import events
from flashsale.services.inventory.domain import Reservation, ReservationStatus
from flashsale.services.inventory.store import sql
from flashsale.services.inventory.store.tables import reservation_items, reservations, stock

# Columns go in as arrays (unnest): the statement's text is the same for every batch size, so
# it is prepared once per connection, and no row is turned into parameters one by one; its result
# column named, it runs by asyncpg without SQLAlchemy's execution around it (kit/statements.py).
_GRANT_ALL = Statement(sa.text(f"""
WITH taken AS (
    UPDATE {stock.name} SET available = available - :total, reserved = reserved + :total
    WHERE product_id = :product_id AND available >= :total AND purchase_limit IS NULL
    RETURNING available
), held AS (
    INSERT INTO {reservations.name} (reservation_id, order_id, customer_id, status, created_at_ms,
                                     expires_at_ms, updated_at_ms, requested)
    SELECT r.id, r.order_id, r.customer_id, :held, r.created_at_ms, r.expires_at_ms, r.created_at_ms, r.requested
    FROM unnest(CAST(:ids AS text[]), CAST(:order_ids AS text[]), CAST(:customer_ids AS text[]),
                CAST(:created AS bigint[]), CAST(:expires AS bigint[]), CAST(:requested AS text[]))
         AS r(id, order_id, customer_id, created_at_ms, expires_at_ms, requested)
    WHERE EXISTS (SELECT FROM taken)
), items AS (
    INSERT INTO {reservation_items.name} (reservation_id, product_id, quantity)
    SELECT i.id, :product_id, i.quantity
    FROM unnest(CAST(:ids AS text[]), CAST(:quantities AS bigint[])) AS i(id, quantity)
    WHERE EXISTS (SELECT FROM taken)
), {announcing_cte("EXISTS (SELECT FROM taken)")}
SELECT available FROM taken
""").columns(available=sa.BigInteger))


def announcement(db: Database, wanted: Reservation) -> Announcement:
    """The StockReserved that `wanted` gets if its batch grants it as asked, as its outbox row."""
    envelope = events.stock_reserved(wanted, wanted.created_at_ms)
    return db.announcement(envelope, aggregate_id=wanted.reservation_id)


async def grant_all_statement(
    uow: UnitOfWork, product_id: str, batch: Sequence[Reservation], announced: Sequence[Announcement]
) -> int | None:
    """Grant every hold of `batch` (single-line holds of `product_id`, as asked, each announced by
    the announcement of the same index) in one statement (`Database.single_statement`): the units
    left, or None when nothing was written because the batch does not fit whole. Raises
    IntegrityError when an order of the batch already holds stock."""
    rows = [sql.reservation_row(held) for held in batch]
    taken = await uow.execute_announcing(_GRANT_ALL, {
        "product_id": product_id,
        "held": ReservationStatus.HELD.value,
        "total": sum(held.lines[0].quantity for held in batch),
        "ids": [row["reservation_id"] for row in rows],
        "order_ids": [row["order_id"] for row in rows],
        "customer_ids": [row["customer_id"] for row in rows],
        "created": [row["created_at_ms"] for row in rows],
        "expires": [row["expires_at_ms"] for row in rows],
        "requested": [row["requested"] for row in rows],
        "quantities": [held.lines[0].quantity for held in batch],
    }, announced)
    return None if taken is None else int(taken.available)
