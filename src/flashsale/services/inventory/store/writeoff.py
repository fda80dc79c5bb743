"""Writing off more units than are available: revoking reservations (the policy is in domain.py).

Locking. The write-off first locks the product's stock row, waiting like any other transaction
(it holds nothing yet). From then on, the product's HELD and CONFIRMED reservations cannot change
(every change of them moves this product's stock), so the plan made from them is exact. Revoking
them needs more locks (their rows, the stock rows of their other products), which other
transactions may hold while they wait for the row we hold: a release locks its reservation and
then the stock; a multi-item hold locks an earlier product first. So after the first lock the
write-off never waits long: on PostgreSQL a short `lock_timeout` makes it give way (roll back,
and the store tries again) instead of deadlocking. SQLite serialises writers: nothing to wait for.
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.sql import DEADLOCK_DETECTED, sqlstate
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.inventory import events
from flashsale.services.inventory.domain import Holder, Reservation, ReservationStatus, plan_write_off
from flashsale.services.inventory.errors import UnknownProduct
from flashsale.services.inventory.store import limits
from flashsale.services.inventory.store.sql import (
    ProductStock,
    announce,
    lock_reservation,
    lock_stock_txn,
    must_move,
    save_status_txn,
)
from flashsale.services.inventory.store.tables import reservation_items, reservations

GIVE_WAY_AFTER = "200ms"
# lock_not_available (our lock_timeout), and deadlock_detected should the reasoning above ever fail.
GAVE_WAY = {"55P03", DEADLOCK_DETECTED}

Levels = list[tuple[str, int]]


def gave_way(error: DBAPIError) -> bool:
    """Whether the write-off rolled back to let another transaction through (worth a retry)."""
    return sqlstate(error) in GAVE_WAY


async def revoke_for_txn(
    uow: UnitOfWork, product_id: str, quantity: int, reason: str, now: int
) -> tuple[list[Reservation], Levels]:
    """Revoke, per the write-off policy, the reservations that must give their units back before
    `quantity` units of the product can be written off from available."""
    conn = uow.conn
    locked = (await lock_stock_txn(conn, [product_id])).get(product_id)
    if locked is None:
        raise UnknownProduct(product_id)
    plan = plan_write_off(locked.level, quantity, await holders_txn(conn, locked), product_id)
    if plan and conn.dialect.name == "postgresql":
        await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{GIVE_WAY_AFTER}'"))
    revoked: list[Reservation] = []
    levels: Levels = []
    for holder in plan:
        reservation, moved = await revoke_txn(uow, holder, reason, now)
        revoked.append(reservation)
        levels.extend(moved)
    return revoked, levels


async def holders_txn(conn: AsyncConnection, locked: ProductStock) -> list[Holder]:
    """The reservations that hold or bought units of a product whose stock row we have locked."""
    rows = await conn.execute(
        sa.select(
            reservations.c.reservation_id, reservations.c.status, reservations.c.created_at_ms,
            reservations.c.confirmed_at_ms, reservation_items.c.quantity,
        )
        .select_from(reservation_items.join(reservations))
        .where(
            reservation_items.c.product_id == locked.product_id,
            reservations.c.status.in_(limits.COUNTED),
        )
    )
    return [
        Holder(r.reservation_id, ReservationStatus(r.status), r.quantity, r.created_at_ms, r.confirmed_at_ms)
        for r in rows
    ]


async def revoke_txn(uow: UnitOfWork, holder: Holder, reason: str, now: int) -> tuple[Reservation, Levels]:
    """Cancel the reservation as a whole: every unit of every product in it back to available."""
    conn = uow.conn
    reservation = await lock_reservation(conn, holder.reservation_id)
    if reservation is None or reservation.status is not holder.status:
        raise RuntimeError(f"reservation {holder.reservation_id!r} changed while its product was locked")
    source = "reserved" if holder.status is ReservationStatus.HELD else "sold"
    levels = [await must_move(conn, line, source, "available") for line in reservation.lines]
    await limits.return_units_txn(conn, reservation)
    revoked = replace(reservation, status=ReservationStatus.REVOKED)
    await save_status_txn(conn, revoked, now)
    await announce(uow, events.reservation_revoked(revoked, holder.status, reason, now))
    return revoked, levels
