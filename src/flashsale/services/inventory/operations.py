"""The inventory's use cases: what the API, the consumers and the sweeper ask of it.

`Inventory` holds, releases and expires reservations, receives and adjusts stock, keeps purchase
limits, and turns the order service's facts into deductions or returned stock. Each method without
`_txn` opens one short unit of work; the `_txn` methods run inside the caller's (the inbox's).
Every change announces itself in the same unit of work. The rules are in domain.py; the statements
in store/ (`sql.py` stock moves and reservations, `holds.py` taking stock, `batched.py` coalesced
holds, `limits.py` purchase limits, `writeoff.py` revocations).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.ids import new_id
from flashsale.kit.sql import rerun_deadlock_victims
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.inventory import events, metrics
from flashsale.services.inventory.domain import (
    Fulfilment,
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
    CustomerRequired,
    LimitExceeded,
    OutOfStock,
    UnknownProduct,
    UnknownReservation,
    WriteOffContended,
)
from flashsale.services.inventory.store import batched, deduction, holds, limits, sql, writeoff
from flashsale.services.inventory.store.sql import ProductStock
from flashsale.services.inventory.store.tables import reservations, stock

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `next` is the cursor (`after=`) of the following page, if any."""

    items: list[T]
    next: str | None


_REFUSAL_REASONS = {
    OutOfStock: "out_of_stock", UnknownProduct: "unknown_product",
    LimitExceeded: "limit_exceeded", CustomerRequired: "customer_required",
}
# A write-off that gave way to other transactions tries again this often, a little later each time.
WRITE_OFF_ATTEMPTS = 20


class Inventory:
    """Stock and holds of one inventory database. Methods without `_txn` open their own transaction."""

    def __init__(
        self, db: Database, clock: Clock, *, hold_ttl_s: int, hold_strategy: str = batched.STRATEGY,
        max_batch: int = 256, linger_s: float = 0.0, hold_all: holds.HoldStrategy = holds.hold_all_txn,
    ) -> None:
        """`hold_all` takes the stock of an all-or-nothing hold that is not coalesced (the bench
        gives its lock-then-write baseline here)."""
        self.db = db
        self.clock = clock
        self.hold_ttl_s = hold_ttl_s
        if hold_strategy not in (holds.CONDITIONAL, batched.STRATEGY):
            raise ValueError(f"unknown hold strategy {hold_strategy!r}")
        # "coalesced" batches the holds that can be (batched.py); the others take the conditional path.
        self._hold_all = hold_all
        self._batches = (
            batched.BatchedHolds(db, self._reserve_one, max_batch=max_batch, linger_s=linger_s)
            if hold_strategy == batched.STRATEGY else None
        )

    # -- holds ----------------------------------------------------------------------------

    async def reserve(
        self, lines: Sequence[Line], *, order_id: str | None = None,
        customer_id: str | None = None, ttl_s: int | None = None, fulfilment: Fulfilment = Fulfilment.ALL,
    ) -> Reservation:
        """Hold every line or none ("all"), or as much of each as can be had ("partial"), within
        the customer's purchase limits; a repeat for the same order id returns the first hold."""
        now = self.clock.now_ms()
        asked = tuple(in_lock_order(lines))
        wanted = Reservation(
            reservation_id=new_id(),
            status=ReservationStatus.HELD,
            lines=asked,
            expires_at_ms=expires_at_ms(now, ttl_s or self.hold_ttl_s),
            order_id=order_id,
            customer_id=customer_id,
            created_at_ms=now,
            requested=asked if fulfilment is Fulfilment.PARTIAL else None,
        )
        if self._batches is not None and batched.may_batch(wanted):
            return await self._batches.reserve(wanted)
        return await self._reserve_one(wanted)

    @rerun_deadlock_victims()
    async def _reserve_one(self, wanted: Reservation) -> Reservation:
        """One hold in a transaction of its own (its stock rows locked in product order)."""
        now, order_id = wanted.created_at_ms, wanted.order_id
        try:
            async with self.db.unit_of_work() as uow:
                if wanted.fulfilment is Fulfilment.PARTIAL:
                    reservation, levels = await holds.hold_partial_txn(uow.conn, wanted)
                else:
                    reservation, levels = wanted, await self._hold_all(uow.conn, wanted)
                await sql.insert_reservation_txn(uow.conn, reservation, now)
                await sql.announce(uow, events.stock_reserved(reservation, now))
        except sql.AlreadyHeld as repeat:
            return repeat.reservation
        except (OutOfStock, UnknownProduct, LimitExceeded, CustomerRequired) as refusal:
            metrics.holds_refused.labels(_REFUSAL_REASONS[type(refusal)]).inc()
            raise
        except IntegrityError:
            # A concurrent reserve for the same order id committed first: answer with its hold.
            if order_id is None:
                raise
            return await self._hold_of_order(order_id, wanted)
        metrics.holds_granted.inc()
        metrics.record_available(levels)
        return reservation

    async def _hold_of_order(self, order_id: str, wanted: Reservation) -> Reservation:
        existing = await self.reservation_of_order(order_id)
        if existing is None:
            raise RuntimeError(f"order {order_id!r} conflicted but holds nothing")
        return sql.same_hold(existing, wanted.asked, wanted.fulfilment)

    @rerun_deadlock_victims()
    async def release(self, reservation_id: str) -> Reservation:
        """HELD -> RELEASED (units back to available); an ended hold is returned as it is."""
        now = self.clock.now_ms()
        async with self.db.unit_of_work() as uow:
            reservation = await sql.lock_reservation(uow.conn, reservation_id)
            if reservation is None:
                raise UnknownReservation(reservation_id)
            if not may_release(reservation.status, reservation_id):
                return reservation
            released, levels = await sql.end_hold_txn(uow.conn, reservation, ReservationStatus.RELEASED, now)
            await sql.announce(uow, events.reservation_released(released, "released", now))
        metrics.holds_ended.labels("released").inc()
        metrics.record_available(levels)
        return released

    async def expire_due(self, limit: int, *, now_ms: int | None = None) -> int:
        """Expire up to `limit` holds whose time is up, each in its own short transaction.

        Returns how many were due (a full batch means more may be waiting). `now_ms` judges by
        another clock than the database's (a test's, which it moves by hand)."""
        now = await self.now_ms() if now_ms is None else now_ms
        due = await self.due_holds(limit, now)
        for reservation_id, _order_id in due:
            await self.expire(reservation_id, now)
        return len(due)

    async def now_ms(self) -> int:
        """The database's clock: what is due is judged by it, so every instance agrees."""
        return await self.db.now_ms()

    async def due_holds(self, limit: int, now_ms: int) -> list[tuple[str, str | None]]:
        """Up to `limit` holds still HELD whose time is up at `now_ms`, earliest first, with
        their order ids (the sweeper expires each as a step of its order's journey)."""
        async with self.db.read() as conn:
            due = await conn.execute(
                sa.select(reservations.c.reservation_id, reservations.c.order_id)
                .where(reservations.c.status == ReservationStatus.HELD.value)
                .where(reservations.c.expires_at_ms <= now_ms)
                .order_by(reservations.c.expires_at_ms)
                .limit(limit)
            )
            return [(reservation_id, order_id) for reservation_id, order_id in due]

    @rerun_deadlock_victims()
    async def expire(self, reservation_id: str, now: int) -> None:
        """Expire one hold in its own transaction, if it is still HELD and due at `now`."""
        async with self.db.unit_of_work() as uow:
            reservation = await sql.lock_reservation(uow.conn, reservation_id)
            # Another instance's sweeper, a release or a confirmation may have come first.
            if reservation is None or not is_due(reservation, now):
                return
            expired, levels = await sql.end_hold_txn(uow.conn, reservation, ReservationStatus.EXPIRED, now)
            await sql.announce(uow, events.reservation_expired(expired, now))
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
        async with self.db.unit_of_work() as uow:
            received = await sql.receive_txn(uow.conn, product_id, quantity)
            await sql.announce(
                uow, events.stock_received(product_id, quantity, received.level.available, now)
            )
        metrics.record_available([(product_id, received.level.available)])
        return received

    async def adjust(self, product_id: str, delta: int, reason: str) -> ProductStock:
        """A correction: more units found (delta > 0) or units written off (delta < 0); a
        write-off of more than is available revokes reservations first (domain.py's policy)."""
        if delta > 0:
            return await self._add(product_id, delta, reason)
        for attempt in range(1, WRITE_OFF_ATTEMPTS + 1):
            try:
                return await self._write_off(product_id, -delta, reason)
            except DBAPIError as error:
                if not writeoff.gave_way(error):
                    raise
                if attempt == WRITE_OFF_ATTEMPTS:
                    raise WriteOffContended(product_id) from error
            # Let the transactions it gave way to finish; jitter keeps two write-offs apart.
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable")

    async def _add(self, product_id: str, quantity: int, reason: str) -> ProductStock:
        now = self.clock.now_ms()
        async with self.db.unit_of_work() as uow:
            adjusted = await sql.add_units(uow.conn, product_id, quantity)
            if adjusted is None:
                raise UnknownProduct(product_id)
            available = adjusted.level.available
            await sql.announce(uow, events.stock_adjusted(product_id, quantity, reason, available, now))
        metrics.record_available([(product_id, available)])
        return adjusted

    async def _write_off(self, product_id: str, quantity: int, reason: str) -> ProductStock:
        now = self.clock.now_ms()
        revoked: list[Reservation] = []
        levels: list[tuple[str, int]] = []
        async with self.db.unit_of_work() as uow:
            adjusted = await sql.move(uow.conn, product_id, quantity, "available", "written_off")
            if adjusted is None:  # not enough available (or no such product): the apology path
                revoked, levels = await writeoff.revoke_for_txn(uow, product_id, quantity, reason, now)
                adjusted = await sql.move(uow.conn, product_id, quantity, "available", "written_off")
                if adjusted is None:
                    raise RuntimeError(f"revocations left too few units of {product_id!r} to write off")
            available = adjusted.level.available
            await sql.announce(uow, events.stock_adjusted(product_id, -quantity, reason, available, now))
        metrics.holds_ended.labels("revoked").inc(len(revoked))
        metrics.record_available([*levels, (product_id, available)])
        return adjusted

    # -- purchase limits ---------------------------------------------------------------------

    async def purchase_limit(self, product_id: str) -> int | None:
        return (await self.stock_of(product_id)).purchase_limit

    async def set_purchase_limit(self, product_id: str, per_customer: int | None) -> int | None:
        """At most `per_customer` units per customer from now on (None: no limit). Units already
        held or bought count; a limit below them refuses the customer's further holds."""
        async with self.db.transaction() as conn:
            current = (await sql.lock_stock_txn(conn, [product_id])).get(product_id)
            if current is None:
                raise UnknownProduct(product_id)
            if current.purchase_limit is None and per_customer is not None:
                await limits.count_existing_txn(conn, product_id)
            await limits.save_limit_txn(conn, product_id, per_customer)
        return per_customer

    async def stock_of(self, product_id: str) -> ProductStock:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(stock).where(stock.c.product_id == product_id))).first()
        if row is None:
            raise UnknownProduct(product_id)
        return sql.stock_from(row)

    async def stock_of_products(self, product_ids: Sequence[str]) -> list[ProductStock]:
        """The stock of these products (those that exist), read by primary key."""
        if not product_ids:
            return []
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(stock).where(stock.c.product_id.in_(product_ids)))).all()
        return [sql.stock_from(row) for row in rows]

    async def products(self, *, after: str | None, limit: int) -> Page[ProductStock]:
        query = sa.select(stock).order_by(stock.c.product_id).limit(limit + 1)
        if after is not None:
            query = query.where(stock.c.product_id > after)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        found = [sql.stock_from(r) for r in rows[:limit]]
        return Page(found, found[-1].product_id if len(rows) > limit else None)

    # -- the order service's facts (inside the consumer's inbox transaction) ---------------

    async def deduct_held_at_once(
        self, consumer: str, order_id: str, reservation_id: str, cause: Envelope
    ) -> list[tuple[str, int]] | None:
        """The common case of a paid order's confirmation, handled by `consumer`, in one statement
        on PostgreSQL (store/deduction.py): a hold of one product still held for its order becomes a
        deduction. None when that is not the case, or the hold changed between the read and the
        statement, or on SQLite: nothing was written, and the caller confirms the general way
        (`confirm_order_txn` in the inbox's unit of work)."""
        if self.db.is_sqlite:
            return None
        async with self.db.read() as conn:
            held = await sql.read_reservation(conn, reservation_id)
        if held is None or not deduction.deducts_at_once(held, order_id):
            return None
        now = self.clock.now_ms()
        announced = deduction.confirmation(self.db, held, order_id, now, cause)
        try:
            async with self.db.single_statement() as uow:
                available = await deduction.deduct_held_statement(uow, held, order_id, now, consumer, cause, announced)
        except IntegrityError:  # a copy handled meanwhile, or books that refuse the move: the general way says which
            return None
        if available is None:
            return None
        metrics.holds_ended.labels("confirmed").inc()
        return [(held.lines[0].product_id, available)]

    async def confirm_order_txn(
        self, uow: UnitOfWork, order_id: str, reservation_id: str, cause: Envelope
    ) -> list[tuple[str, int]]:
        """The order was paid: its hold becomes a deduction, or, if the hold ended meanwhile,
        the units are sold from what is available; failing that the confirmation is rejected."""
        conn = uow.conn
        now = self.clock.now_ms()
        reservation = await sql.lock_reservation(conn, reservation_id)
        if reservation is None or not sql.belongs_to(reservation, order_id):
            await sql.reject_txn(uow, reservation_id, order_id, now, cause, "stock_unavailable")
            return []
        action = on_order_confirmed(reservation.status, reservation.order_cancelled_at_ms is not None)
        if action is OnOrderConfirmed.NOTHING:
            return []
        if action is OnOrderConfirmed.REFUSE:
            await sql.reject_txn(uow, reservation_id, order_id, now, cause, "order_cancelled")
            metrics.late_confirmations_refused.inc()
            return []
        if action is OnOrderConfirmed.DEDUCT_HOLD:
            levels = [await sql.must_move(conn, line, "reserved", "sold") for line in reservation.lines]
        else:
            retaken = await holds.retake_txn(conn, reservation)
            if isinstance(retaken, str):
                await sql.reject_txn(uow, reservation_id, order_id, now, cause, retaken)
                return []
            levels = retaken
        confirmed = reservation.confirmed_for(order_id, now)
        await sql.save_status_txn(conn, confirmed, now)
        await sql.announce(uow, events.reservation_confirmed(confirmed, order_id, now, cause))
        metrics.holds_ended.labels("confirmed").inc()
        return levels

    async def cancel_order_txn(
        self, uow: UnitOfWork, order_id: str, reservation_id: str, cause: Envelope
    ) -> list[tuple[str, int]]:
        """The order was cancelled: a hold is released; sold units of a paid order come back."""
        conn = uow.conn
        now = self.clock.now_ms()
        reservation = await sql.lock_reservation(conn, reservation_id)
        if reservation is None or not sql.belongs_to(reservation, order_id):
            return []
        action = on_order_cancelled(reservation.status)
        cancelled = replace(reservation, order_cancelled_at_ms=reservation.order_cancelled_at_ms or now)
        if action is OnOrderCancelled.NOTHING:
            if reservation.order_cancelled_at_ms is None:  # for a confirmation delivered after this
                await sql.save_status_txn(conn, cancelled, now)
            return []
        if action is OnOrderCancelled.RELEASE_HOLD:
            released, levels = await sql.end_hold_txn(conn, cancelled, ReservationStatus.RELEASED, now)
        else:
            levels = [await sql.must_move(conn, line, "sold", "available") for line in reservation.lines]
            await limits.return_units_txn(conn, reservation)
            released = replace(cancelled, status=ReservationStatus.RELEASED)
            await sql.save_status_txn(conn, released, now)
        await sql.announce(uow, events.reservation_released(released, "order_cancelled", now, cause))
        metrics.holds_ended.labels("order_cancelled").inc()
        return levels
