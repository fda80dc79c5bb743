"""PostgreSQL: a paid order's hold turned into a deduction in ONE statement, with its inbox row.

Almost every OrderConfirmed is this case: the order's hold of one product is still held, its
order not cancelled. Written as a transaction (`Inventory.confirm_order_txn` inside the inbox's
unit of work) it is a BEGIN, the inbox's row, the reservation read and locked, the stock moved,
the reservation saved, the ReservationConfirmed written and a COMMIT: seven round trips, each
waiting for its turn on a busy event loop and for a core, with the product's stock row locked
from the move to the commit (the hot product's hold batches wait for it). That was most of
OrderConfirmed -> deduction committed at its p99.

Here the reservation is read first (not locked), and the change is one statement of
data-modifying CTEs run in autocommit: the reservation becomes CONFIRMED only if it is still
held, its order not cancelled, the order its own and the message new; the stock moves, the
message is recorded in the inbox and the event written only if it did. A statement commits whole
or not at all, and one that found the hold changed meanwhile (an expiry, a cancellation, a copy
of the message handled by another instance) changes nothing: then the caller confirms the
general way, whose rules answer every case. An UPDATE that waited for the reservation's row
lock checks its conditions again on the row as the other transaction left it, so a hold that
stopped being held meanwhile is not confirmed. The stock's CHECK constraints refuse a move the
books do not allow, failing the whole statement.

Locks: the reservation's row, then its product's stock row, as the general way takes them. A
hold of several products is left to the general way, which locks their rows in product order.
"""

from __future__ import annotations

import sqlalchemy as sa

from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.inbox import NOT_RECORDED, recording_cte, recording_values
from flashsale.kit.statements import Statement
from flashsale.kit.unit_of_work import Announcement, UnitOfWork, announcing_cte
from flashsale.services.inventory import events
from flashsale.services.inventory.domain import OnOrderConfirmed, Reservation, ReservationStatus, on_order_confirmed
from flashsale.services.inventory.store.sql import belongs_to
from flashsale.services.inventory.store.tables import reservations, stock

# Its result column named, it runs by asyncpg without SQLAlchemy's execution around it (kit/statements.py).
_DEDUCT_HELD = Statement(sa.text(f"""
WITH confirmed AS (
    UPDATE {reservations.name}
    SET status = :confirmed, order_id = :order_id, confirmed_at_ms = :now, updated_at_ms = :now
    WHERE reservation_id = :reservation_id AND status = :held AND order_cancelled_at_ms IS NULL
      AND (order_id IS NULL OR order_id = :order_id)
      AND {NOT_RECORDED}
    RETURNING reservation_id
), moved AS (
    UPDATE {stock.name} SET reserved = reserved - :quantity, sold = sold + :quantity
    WHERE product_id = :product_id AND EXISTS (SELECT FROM confirmed)
    RETURNING available
), {recording_cte("EXISTS (SELECT FROM confirmed)")}, {announcing_cte("EXISTS (SELECT FROM confirmed)")}
SELECT available FROM moved
""").columns(available=sa.BigInteger))


def deducts_at_once(reservation: Reservation, order_id: str) -> bool:
    """Whether `reservation`, as read, is the case this statement handles for `order_id`: the
    domain's rule says deduct the hold, the hold is the order's, and it is of one product."""
    cancelled = reservation.order_cancelled_at_ms is not None
    return (on_order_confirmed(reservation.status, cancelled) is OnOrderConfirmed.DEDUCT_HOLD
            and belongs_to(reservation, order_id) and len(reservation.lines) == 1)


def confirmation(db: Database, held: Reservation, order_id: str, now: int, cause: Envelope) -> Announcement:
    """The ReservationConfirmed that `held` gets once confirmed for `order_id`, as its outbox row."""
    envelope = events.reservation_confirmed(held.confirmed_for(order_id, now), order_id, now, cause)
    return db.announcement(envelope, aggregate_id=envelope.subject)


async def deduct_held_statement(
    uow: UnitOfWork, held: Reservation, order_id: str, now: int, consumer: str, cause: Envelope,
    announced: Announcement,
) -> int | None:
    """Confirm `held` (read just before, `deducts_at_once`) for `order_id`, announced by
    `announced` (`confirmation`), and record `cause` as handled by `consumer`, in one statement
    (`Database.single_statement`): the units of its product left available, or None when nothing
    was written (the hold or the message was not as read)."""
    (line,) = held.lines
    moved = await uow.execute_announcing(_DEDUCT_HELD, {
        "reservation_id": held.reservation_id, "order_id": order_id, "now": now,
        "held": ReservationStatus.HELD.value, "confirmed": ReservationStatus.CONFIRMED.value,
        "product_id": line.product_id, "quantity": line.quantity,
        **recording_values(consumer, cause, now),
    }, [announced])
    return None if moved is None else int(moved.available)
