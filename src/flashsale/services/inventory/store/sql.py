"""The statements behind the store's operations, each inside the caller's transaction.

Stock never moves by read-then-write: each move is one conditional UPDATE
(`... SET available = available - :q ... WHERE available >= :q`) whose returned row says whether
it happened, so two buyers racing for the last unit cannot both get it, whatever the isolation
level. Transactions that move stock of several products lock the rows in product-id order
(`domain.in_lock_order`); those that also change a reservation lock that row first. A customer's
purchase-limit counter (`limits.py`) only changes after its product's stock row is locked.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.envelope import Envelope
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import Statement, one_of, per_dialect
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.inventory import events
from flashsale.services.inventory.domain import (
    Fulfilment,
    Line,
    Reservation,
    ReservationStatus,
    StockLevel,
)
from flashsale.services.inventory.errors import CustomerRequired, InventoryError, OrderAlreadyReserved, UnknownProduct
from flashsale.services.inventory.store import limits
from flashsale.services.inventory.store.tables import reservation_items, reservations, stock


@dataclass(frozen=True)
class ProductStock:
    product_id: str
    level: StockLevel
    purchase_limit: int | None = None  # at most this many units per customer; None: no limit


class AlreadyHeld(Exception):
    """The order already holds this stock; raised to roll back the second attempt's moves."""

    def __init__(self, reservation: Reservation) -> None:
        super().__init__(reservation.reservation_id)
        self.reservation = reservation


async def announce(uow: UnitOfWork, envelope: Envelope) -> None:
    """The inventory's events are about their subject (a product, a reservation): the aggregate
    whose events keep their order."""
    await uow.announce(envelope, aggregate_id=envelope.subject)


async def move(
    conn: AsyncConnection, product_id: str, quantity: int, source: str, target: str
) -> ProductStock | None:
    """Move `quantity` units from column `source` to `target` in one conditional UPDATE.

    The move happens only if `source` holds enough; None means it did not (or there is no such
    product). The new row comes back in the same statement, no second read.
    """
    row = (await _move_statement(source, target).run(conn, {"b_product_id": product_id, "b_quantity": quantity})
           ).first()
    return None if row is None else stock_from(row)


@functools.cache
def _move_statement(source: str, target: str) -> Statement:
    """`move`'s UPDATE for one pair of columns, built once (kit/statements.py says why)."""
    src, dst = stock.c[source], stock.c[target]
    quantity = sa.bindparam("b_quantity", type_=sa.BigInteger())
    return Statement(stock.update()
                     .where(stock.c.product_id == sa.bindparam("b_product_id"), src >= quantity)
                     .values({src: src - quantity, dst: dst + quantity})
                     .returning(*stock.c))


async def add_units(conn: AsyncConnection, product_id: str, quantity: int) -> ProductStock | None:
    """More units of a known product: available and received grow together."""
    row = (
        await conn.execute(
            stock.update()
            .where(stock.c.product_id == product_id)
            .values(available=stock.c.available + quantity, received=stock.c.received + quantity)
            .returning(*stock.c)
        )
    ).first()
    return None if row is None else stock_from(row)


async def lock_stock_txn(conn: AsyncConnection, product_ids: Iterable[str]) -> dict[str, ProductStock]:
    """Lock the stock rows of these products in product order (no deadlocks) and read them."""
    rows = await _LOCK_STOCK.run(conn, {"b_product_ids": sorted(set(product_ids))})
    return {row.product_id: stock_from(row) for row in rows}


async def refusal_txn(conn: AsyncConnection, wanted: Reservation, refusal: InventoryError) -> Exception:
    """Why a hold failed, asked in the same transaction (a refusal is the common answer in a sale).

    A retried reserve of an order that already holds its stock is not refused: it gets that hold.
    Otherwise an unknown product comes first, then a missing customer, then `refusal` itself.
    """
    if wanted.order_id is not None:
        existing = await load_reservation(conn, reservations.c.order_id == wanted.order_id)
        if existing is not None:
            return AlreadyHeld(same_hold(existing, wanted.asked, wanted.fulfilment))
    products = sorted({item.product_id for item in wanted.lines})
    rows = (
        await conn.execute(
            sa.select(stock.c.product_id, stock.c.purchase_limit).where(stock.c.product_id.in_(products))
        )
    ).all()
    missing = sorted(set(products) - {row.product_id for row in rows})
    if missing:
        return UnknownProduct(missing[0])
    limited = [row.product_id for row in rows if row.purchase_limit is not None]
    if limited and wanted.customer_id is None:
        return CustomerRequired(min(limited))
    return refusal


async def must_move(conn: AsyncConnection, line: Line, source: str, target: str) -> tuple[str, int]:
    """A move the reservation's state guarantees; failing means the books are wrong: roll back."""
    moved = await move(conn, line.product_id, line.quantity, source, target)
    if moved is None:
        raise RuntimeError(f"cannot move {line.quantity} of {line.product_id!r} from {source} to {target}")
    return line.product_id, moved.level.available


async def receive_txn(conn: AsyncConnection, product_id: str, quantity: int) -> ProductStock:
    insert = dialect_insert(conn.dialect.name, stock).values(
        product_id=product_id, available=quantity, reserved=0, sold=0, received=quantity, written_off=0
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[stock.c.product_id],
        set_={
            "available": stock.c.available + insert.excluded.available,
            "received": stock.c.received + insert.excluded.received,
        },
    ).returning(*stock.c)
    return stock_from((await conn.execute(upsert)).one())


async def insert_reservation_txn(conn: AsyncConnection, reservation: Reservation, now: int) -> None:
    await insert_reservations_txn(conn, [replace(reservation, created_at_ms=now)])


async def insert_reservations_txn(conn: AsyncConnection, held: Sequence[Reservation]) -> None:
    """New reservations, created at their `created_at_ms`: one multi-row INSERT per table."""
    await _INSERT_RESERVATIONS.run(conn, [reservation_row(r) for r in held])
    await _INSERT_ITEMS.run(conn, [
        {"reservation_id": r.reservation_id, "product_id": line.product_id, "quantity": line.quantity}
        for r in held
        for line in r.lines
    ])


def reservation_row(reservation: Reservation) -> dict[str, Any]:
    requested = reservation.requested
    return {
        "reservation_id": reservation.reservation_id,
        "order_id": reservation.order_id,
        "customer_id": reservation.customer_id,
        "status": reservation.status.value,
        "created_at_ms": reservation.created_at_ms,
        "expires_at_ms": reservation.expires_at_ms,
        "updated_at_ms": reservation.created_at_ms,
        "confirmed_at_ms": None,
        "requested": None if requested is None else json.dumps([[ln.product_id, ln.quantity] for ln in requested]),
        "order_cancelled_at_ms": None,
    }


async def reservations_of_orders_txn(conn: AsyncConnection, order_ids: Sequence[str]) -> dict[str, Reservation]:
    """The reservations these orders already have (a retried reserve), by order id."""
    if not order_ids:
        return {}
    rows = (await _RESERVATIONS_OF_ORDERS.run(conn, {"b_order_ids": list(order_ids)})).all()
    lines = await lines_of(conn, [row.reservation_id for row in rows])
    return {row.order_id: reservation_from(row, lines[row.reservation_id]) for row in rows}


async def end_hold_txn(
    conn: AsyncConnection, reservation: Reservation, status: ReservationStatus, now: int
) -> tuple[Reservation, list[tuple[str, int]]]:
    """A held reservation ends without a sale: its units go back to available (and its
    customer's purchase-limit counters give them back)."""
    levels = [await must_move(conn, line, "reserved", "available") for line in reservation.lines]
    await limits.return_units_txn(conn, reservation)
    ended = replace(reservation, status=status)
    await save_status_txn(conn, ended, now)
    return ended, levels


async def save_status_txn(conn: AsyncConnection, reservation: Reservation, now: int) -> None:
    await _SAVE_STATUS.run(conn, {
        "b_reservation_id": reservation.reservation_id, "b_status": reservation.status.value,
        "b_order_id": reservation.order_id, "b_confirmed_at_ms": reservation.confirmed_at_ms,
        "b_order_cancelled_at_ms": reservation.order_cancelled_at_ms, "b_now": now,
    })


# The statements every confirmation and cancellation runs, built once (kit/statements.py says why).
_THIS_RESERVATION: sa.BindParameter[str] = sa.bindparam("b_reservation_id", type_=sa.String())
# A reservation with its lines, a row per line; to lock, its own row locked. One statement is safe
# here although a lock that waited returns the joined rows as they were when the statement began:
# a reservation's lines are written with it and never change.
_RESERVATION_WITH_LINES = (
    sa.select(reservations, reservation_items.c.product_id.label("line_product_id"),
              reservation_items.c.quantity.label("line_quantity"))
    .select_from(reservations.outerjoin(reservation_items,
                                        reservation_items.c.reservation_id == reservations.c.reservation_id))
    .where(reservations.c.reservation_id == _THIS_RESERVATION)
    .order_by(reservation_items.c.product_id))
_LOCK_RESERVATION = Statement(_RESERVATION_WITH_LINES.with_for_update(of=reservations))
_READ_RESERVATION = Statement(_RESERVATION_WITH_LINES)
# Its columns named here, not by the parameters: SQLAlchemy would compile that per call.
_SAVE_STATUS = Statement(reservations.update().where(reservations.c.reservation_id == _THIS_RESERVATION).values(
    status=sa.bindparam("b_status"), order_id=sa.bindparam("b_order_id", type_=sa.String()),
    confirmed_at_ms=sa.bindparam("b_confirmed_at_ms", type_=sa.BigInteger()),
    order_cancelled_at_ms=sa.bindparam("b_order_cancelled_at_ms", type_=sa.BigInteger()),
    updated_at_ms=sa.bindparam("b_now")))


async def reject_txn(
    uow: UnitOfWork, reservation_id: str, order_id: str, now: int, cause: Envelope, reason: str
) -> None:
    """The paid order cannot have its stock (`stock_unavailable`: an unknown hold, or the units went
    to others; `limit_exceeded`: the customer bought up to the limit meanwhile; `customer_required`:
    the product got a limit and the hold named no customer); the order side refunds."""
    await announce(uow, events.reservation_rejected(reservation_id, order_id, reason, now, cause))


async def lock_reservation(conn: AsyncConnection, reservation_id: str) -> Reservation | None:
    """Load a reservation and lock its row until the transaction ends (SQLite: the write lock):
    every confirmation and cancellation does, so its statements are built once."""
    return _reservation_of((await _LOCK_RESERVATION.run(conn, {"b_reservation_id": reservation_id})).all())


async def read_reservation(conn: AsyncConnection, reservation_id: str) -> Reservation | None:
    """A reservation as it is now, not locked (for a statement that changes it only if it still is)."""
    return _reservation_of((await _READ_RESERVATION.run(conn, {"b_reservation_id": reservation_id})).all())


def _reservation_of(rows: Sequence[Any]) -> Reservation | None:
    if not rows:
        return None
    lines = [Line(row.line_product_id, row.line_quantity) for row in rows if row.line_product_id is not None]
    return reservation_from(rows[0], lines)


async def load_reservation(
    conn: AsyncConnection, condition: sa.ColumnElement[bool], *, lock: bool = False
) -> Reservation | None:
    query = sa.select(reservations).where(condition)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    lines = await lines_of(conn, [row.reservation_id])
    return reservation_from(row, lines[row.reservation_id])


async def lines_of(conn: AsyncConnection, reservation_ids: list[str]) -> dict[str, list[Line]]:
    lines: dict[str, list[Line]] = defaultdict(list)
    if not reservation_ids:
        return lines
    rows = await _LINES_OF.run(conn, {"b_reservation_ids": reservation_ids})
    for row in rows:
        lines[row.reservation_id].append(Line(row.product_id, row.quantity))
    return lines


# The hold batch's statements, built once (kit/statements.py says why).
_LOCK_STOCK = per_dialect(lambda dialect: sa.select(stock).where(one_of(stock.c.product_id, "b_product_ids", dialect))
                          .order_by(stock.c.product_id).with_for_update())
_INSERT_RESERVATIONS = Statement(reservations.insert())
_INSERT_ITEMS = Statement(reservation_items.insert())
_RESERVATIONS_OF_ORDERS = per_dialect(lambda dialect: sa.select(reservations).where(
    one_of(reservations.c.order_id, "b_order_ids", dialect)))
_LINES_OF = per_dialect(lambda dialect: sa.select(reservation_items).where(
    one_of(reservation_items.c.reservation_id, "b_reservation_ids", dialect),
).order_by(reservation_items.c.reservation_id, reservation_items.c.product_id))


# -- rows to domain -----------------------------------------------------------------------


def stock_from(row: sa.Row[Any]) -> ProductStock:
    level = StockLevel(
        available=row.available, reserved=row.reserved, sold=row.sold,
        received=row.received, written_off=row.written_off,
    )
    return ProductStock(row.product_id, level, row.purchase_limit)


def reservation_from(row: sa.Row[Any], lines: Iterable[Line]) -> Reservation:
    requested = None if row.requested is None else tuple(Line(p, q) for p, q in json.loads(row.requested))
    return Reservation(
        reservation_id=row.reservation_id,
        status=ReservationStatus(row.status),
        lines=tuple(lines),
        expires_at_ms=row.expires_at_ms,
        order_id=row.order_id,
        customer_id=row.customer_id,
        confirmed_at_ms=row.confirmed_at_ms,
        created_at_ms=row.created_at_ms,
        requested=requested,
        order_cancelled_at_ms=row.order_cancelled_at_ms,
    )


def belongs_to(reservation: Reservation, order_id: str) -> bool:
    """A hold taken without an order id may be claimed by the order that confirms it."""
    return reservation.order_id is None or reservation.order_id == order_id


def same_hold(existing: Reservation, lines: Iterable[Line], fulfilment: Fulfilment) -> Reservation:
    """The order's hold, if it answers this reserve (a retry); another request for the order is refused."""
    if not existing.answers(lines, fulfilment):
        assert existing.order_id is not None
        raise OrderAlreadyReserved(existing.order_id, existing.reservation_id)
    return existing
