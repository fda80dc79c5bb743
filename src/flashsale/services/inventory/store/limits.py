"""Purchase limits: the statements behind "at most n units per customer", inside the caller's transaction.

A product's limit lives on its stock row (`stock.purchase_limit`). While it has one, each
customer's held + bought units of it are kept in a `customer_units` row, and a hold adds its
units with one conditional UPDATE (`... SET units = units + :q WHERE units + :q <= :limit`),
so two holds of one customer racing on PostgreSQL cannot both pass, whatever the isolation
level. The counters exist exactly while the limit does: setting a limit counts what customers
already hold or bought, clearing it drops them. Every statement here runs after the product's
stock row is locked by the same transaction (a hold's move, a release's move, `lock_stock_txn`),
which is what keeps a counter and the limit it is checked against in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.sql import dialect_insert
from flashsale.services.inventory.domain import Line, Reservation, ReservationStatus
from flashsale.services.inventory.store.tables import customer_units, reservation_items, reservations, stock

COUNTED = (ReservationStatus.HELD.value, ReservationStatus.CONFIRMED.value)


async def add_units_txn(conn: AsyncConnection, product_id: str, customer_id: str, quantity: int, limit: int) -> bool:
    """Count `quantity` more units for the customer if that keeps them within `limit`; False if not."""
    await conn.execute(
        dialect_insert(conn.dialect.name, customer_units)
        .values(product_id=product_id, customer_id=customer_id, units=0).on_conflict_do_nothing()
    )
    counted = await conn.execute(
        customer_units.update()
        .where(
            customer_units.c.product_id == product_id,
            customer_units.c.customer_id == customer_id,
            customer_units.c.units + quantity <= limit,
        )
        .values(units=customer_units.c.units + quantity)
    )
    return bool(counted.rowcount == 1)


async def count_lines_txn(
    conn: AsyncConnection, customer_id: str, lines: Iterable[Line], limits: Mapping[str, int]
) -> Line | None:
    """Count every limited line for the customer; the first line that would pass its limit, if any
    (the caller then rolls back, so the lines counted before it are undone)."""
    for line in lines:
        limit = limits.get(line.product_id)
        if limit is not None and not await add_units_txn(conn, line.product_id, customer_id, line.quantity, limit):
            return line
    return None


async def return_units_txn(conn: AsyncConnection, reservation: Reservation) -> None:
    """A reservation stopped counting (released, expired, revoked, sold units returned): its
    customer's counters give its units back. Products without a limit have no counter: no-op."""
    if reservation.customer_id is None:
        return
    for line in reservation.lines:
        await conn.execute(
            customer_units.update()
            .where(
                customer_units.c.product_id == line.product_id,
                customer_units.c.customer_id == reservation.customer_id,
            )
            .values(units=customer_units.c.units - line.quantity)
        )


async def units_of(conn: AsyncConnection, customer_id: str, product_ids: Iterable[str]) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(customer_units.c.product_id, customer_units.c.units).where(
            customer_units.c.customer_id == customer_id, customer_units.c.product_id.in_(sorted(set(product_ids)))
        )
    )
    return {row.product_id: row.units for row in rows}


async def count_existing_txn(conn: AsyncConnection, product_id: str) -> None:
    """A product gets a limit: count what each customer already holds or bought of it."""
    await conn.execute(customer_units.delete().where(customer_units.c.product_id == product_id))
    held_or_bought = (
        sa.select(
            sa.literal(product_id).label("product_id"),
            reservations.c.customer_id,
            sa.func.sum(reservation_items.c.quantity).label("units"),
        )
        .select_from(reservation_items.join(reservations))
        .where(
            reservation_items.c.product_id == product_id,
            reservations.c.status.in_(COUNTED),
            reservations.c.customer_id.is_not(None),
        )
        .group_by(reservations.c.customer_id)
    )
    await conn.execute(
        customer_units.insert().from_select(["product_id", "customer_id", "units"], held_or_bought)
    )


async def save_limit_txn(conn: AsyncConnection, product_id: str, per_customer: int | None) -> None:
    await conn.execute(stock.update().where(stock.c.product_id == product_id).values(purchase_limit=per_customer))
    if per_customer is None:  # no limit, no counters: they would only go stale
        await conn.execute(customer_units.delete().where(customer_units.c.product_id == product_id))
