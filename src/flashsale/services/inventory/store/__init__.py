"""The inventory's store: the only code that touches its tables (`tables.py`).

`InventoryStore` is what the API, the consumers and the sweeper call: each method without
`_txn` opens one short transaction; the `_txn` methods run inside the caller's (the inbox's).
Every change appends the event announcing it to the outbox in the same transaction. The
statements themselves live in `sql.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.services.inventory import events, metrics
from flashsale.services.inventory.domain import (
    Line,
    OnOrderCancelled,
    OnOrderConfirmed,
    Reservation,
    ReservationStatus,
    expires_at_ms,
    in_lock_order,
    is_due,
    may_release,
    on_order_cancelled,
    on_order_confirmed,
)
from flashsale.services.inventory.errors import (
    InsufficientAvailable,
    OutOfStock,
    UnknownProduct,
    UnknownReservation,
)
from flashsale.services.inventory.store import sql
from flashsale.services.inventory.store.sql import ProductStock
from flashsale.services.inventory.store.tables import metadata, reservations, stock

__all__ = ["InventoryStore", "Page", "ProductStock", "metadata"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `next` is the cursor (`after=`) of the following page, if any."""

    items: list[T]
    next: str | None


_REFUSAL_REASONS = {OutOfStock: "out_of_stock", UnknownProduct: "unknown_product"}


class InventoryStore:
    """Stock and holds of one inventory database. Methods without `_txn` open their own transaction."""

    def __init__(self, db: Database, clock: Clock, *, hold_ttl_s: int) -> None:
        self.db = db
        self.clock = clock
        self.hold_ttl_s = hold_ttl_s

    # -- holds ----------------------------------------------------------------------------

    async def reserve(
        self, lines: Sequence[Line], *, order_id: str | None = None,
        customer_id: str | None = None, ttl_s: int | None = None,
    ) -> Reservation:
        """Hold every line or none; a repeat for the same order id returns the first hold."""
        now = self.clock.now_ms()
        reservation = Reservation(
            reservation_id=str(uuid.uuid4()),
            status=ReservationStatus.HELD,
            lines=tuple(in_lock_order(lines)),
            expires_at_ms=expires_at_ms(now, ttl_s or self.hold_ttl_s),
            order_id=order_id,
            customer_id=customer_id,
        )
        try:
            async with self.db.transaction() as conn:
                levels = await sql.hold_all_txn(conn, reservation)
                await sql.insert_reservation_txn(conn, reservation, now)
                await sql.announce(conn, events.stock_reserved(reservation, now))
        except sql.AlreadyHeld as repeat:
            return repeat.reservation
        except (OutOfStock, UnknownProduct) as refusal:
            metrics.holds_refused.labels(_REFUSAL_REASONS[type(refusal)]).inc()
            raise
        except IntegrityError:
            # A concurrent reserve for the same order id committed first: answer with its hold.
            if order_id is None:
                raise
            return await self._hold_of_order(order_id, reservation.lines)
        metrics.holds_granted.inc()
        metrics.record_available(levels)
        return reservation

    async def _hold_of_order(self, order_id: str, lines: Sequence[Line]) -> Reservation:
        existing = await self.reservation_of_order(order_id)
        if existing is None:
            raise RuntimeError(f"order {order_id!r} conflicted but holds nothing")
        return sql.same_hold(existing, lines)

    async def release(self, reservation_id: str) -> Reservation:
        """HELD -> RELEASED (units back to available); an ended hold is returned as it is."""
        now = self.clock.now_ms()
        async with self.db.transaction() as conn:
            reservation = await sql.lock_reservation(conn, reservation_id)
            if reservation is None:
                raise UnknownReservation(reservation_id)
            if not may_release(reservation.status, reservation_id):
                return reservation
            released, levels = await sql.end_hold_txn(conn, reservation, ReservationStatus.RELEASED, now)
            await sql.announce(conn, events.reservation_released(released, "released", now))
        metrics.holds_ended.labels("released").inc()
        metrics.record_available(levels)
        return released

    async def expire_due(self, limit: int) -> int:
        """Expire up to `limit` holds whose time is up, each in its own short transaction.

        Returns how many were due (a full batch means more may be waiting). The database's
        clock decides what is due, not this process's: every instance's sweeper then agrees."""
        now = await self.db.now_ms()
        async with self.db.read() as conn:
            due = (
                await conn.scalars(
                    sa.select(reservations.c.reservation_id)
                    .where(reservations.c.status == ReservationStatus.HELD.value)
                    .where(reservations.c.expires_at_ms <= now)
                    .order_by(reservations.c.expires_at_ms)
                    .limit(limit)
                )
            ).all()
        for reservation_id in due:
            await self._expire(reservation_id, now)
        return len(due)

    async def _expire(self, reservation_id: str, now: int) -> None:
        async with self.db.transaction() as conn:
            reservation = await sql.lock_reservation(conn, reservation_id)
            # Another instance's sweeper, a release or a confirmation may have come first.
            if reservation is None or not is_due(reservation, now):
                return
            expired, levels = await sql.end_hold_txn(conn, reservation, ReservationStatus.EXPIRED, now)
            await sql.announce(conn, events.reservation_expired(expired, now))
        metrics.holds_ended.labels("expired").inc()
        metrics.record_available(levels)

    async def reservation(self, reservation_id: str) -> Reservation:
        async with self.db.read() as conn:
            found = await sql.load_reservation(conn, reservations.c.reservation_id == reservation_id)
        if found is None:
            raise UnknownReservation(reservation_id)
        return found

    async def reservation_of_order(self, order_id: str) -> Reservation | None:
        async with self.db.read() as conn:
            return await sql.load_reservation(conn, reservations.c.order_id == order_id)

    async def reservations(
        self, *, status: ReservationStatus | None, after: str | None, limit: int
    ) -> Page[Reservation]:
        query = sa.select(reservations).order_by(reservations.c.reservation_id).limit(limit + 1)
        if status is not None:
            query = query.where(reservations.c.status == status.value)
        if after is not None:
            query = query.where(reservations.c.reservation_id > after)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            page = rows[:limit]
            lines = await sql.lines_of(conn, [r.reservation_id for r in page])
        found = [sql.reservation_from(r, lines[r.reservation_id]) for r in page]
        return Page(found, page[-1].reservation_id if len(rows) > limit else None)

    # -- stock ----------------------------------------------------------------------------

    async def receive(self, product_id: str, quantity: int) -> ProductStock:
        """Units arrived: available and received grow; the product's stock is created if new."""
        now = self.clock.now_ms()
        async with self.db.transaction() as conn:
            received = await sql.receive_txn(conn, product_id, quantity)
            await sql.announce(
                conn, events.stock_received(product_id, quantity, received.level.available, now)
            )
        metrics.record_available([(product_id, received.level.available)])
        return received

    async def adjust(self, product_id: str, delta: int, reason: str) -> ProductStock:
        """A correction: more units found (delta > 0) or units written off (only available ones)."""
        now = self.clock.now_ms()
        async with self.db.transaction() as conn:
            if delta > 0:
                adjusted = await sql.add_units(conn, product_id, delta)
            else:
                adjusted = await sql.move(conn, product_id, -delta, "available", "written_off")
            if adjusted is None:
                if not await sql.stock_exists(conn, product_id):
                    raise UnknownProduct(product_id)
                raise InsufficientAvailable(product_id, -delta)
            available = adjusted.level.available
            await sql.announce(conn, events.stock_adjusted(product_id, delta, reason, available, now))
        metrics.record_available([(product_id, adjusted.level.available)])
        return adjusted

    async def stock_of(self, product_id: str) -> ProductStock:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(stock).where(stock.c.product_id == product_id))).first()
        if row is None:
            raise UnknownProduct(product_id)
        return sql.stock_from(row)

    async def products(self, *, after: str | None, limit: int) -> Page[ProductStock]:
        query = sa.select(stock).order_by(stock.c.product_id).limit(limit + 1)
        if after is not None:
            query = query.where(stock.c.product_id > after)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        found = [sql.stock_from(r) for r in rows[:limit]]
        return Page(found, found[-1].product_id if len(rows) > limit else None)

    # -- the order service's facts (inside the consumer's inbox transaction) ---------------

    async def confirm_order_txn(
        self, conn: AsyncConnection, order_id: str, reservation_id: str, cause: Envelope
    ) -> list[tuple[str, int]]:
        """The order was paid: its hold becomes a deduction, or, if the hold ended meanwhile,
        the units are sold from what is available; failing that the confirmation is rejected."""
        now = self.clock.now_ms()
        reservation = await sql.lock_reservation(conn, reservation_id)
        if reservation is None or not sql.belongs_to(reservation, order_id):
            await sql.reject_txn(conn, reservation_id, order_id, now, cause)
            return []
        action = on_order_confirmed(reservation.status)
        if action is OnOrderConfirmed.NOTHING:
            return []
        if action is OnOrderConfirmed.DEDUCT_HOLD:
            levels = [await sql.must_move(conn, line, "reserved", "sold") for line in reservation.lines]
        else:
            retaken = await sql.retake_txn(conn, reservation.lines)
            if retaken is None:
                await sql.reject_txn(conn, reservation_id, order_id, now, cause)
                return []
            levels = retaken
        confirmed = replace(
            reservation, status=ReservationStatus.CONFIRMED, order_id=order_id, confirmed_at_ms=now
        )
        await sql.save_status_txn(conn, confirmed, now)
        await sql.announce(conn, events.reservation_confirmed(confirmed, order_id, now, cause))
        metrics.holds_ended.labels("confirmed").inc()
        return levels

    async def cancel_order_txn(
        self, conn: AsyncConnection, order_id: str, reservation_id: str, cause: Envelope
    ) -> list[tuple[str, int]]:
        """The order was cancelled: a hold is released; sold units of a paid order come back."""
        now = self.clock.now_ms()
        reservation = await sql.lock_reservation(conn, reservation_id)
        if reservation is None or not sql.belongs_to(reservation, order_id):
            return []
        action = on_order_cancelled(reservation.status)
        if action is OnOrderCancelled.NOTHING:
            return []
        if action is OnOrderCancelled.RELEASE_HOLD:
            released, levels = await sql.end_hold_txn(conn, reservation, ReservationStatus.RELEASED, now)
        else:
            levels = [await sql.must_move(conn, line, "sold", "available") for line in reservation.lines]
            released = replace(reservation, status=ReservationStatus.RELEASED)
            await sql.save_status_txn(conn, released, now)
        await sql.announce(conn, events.reservation_released(released, "order_cancelled", now, cause))
        metrics.holds_ended.labels("order_cancelled").inc()
        return levels
