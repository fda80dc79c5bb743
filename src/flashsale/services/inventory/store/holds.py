"""Taking stock for a reservation, inside the caller's transaction: all-or-nothing holds,
partial holds and the retake of a late-paid order.

An all-or-nothing hold is the hot path of a sale: one conditional UPDATE per line, whose
returned row also carries the product's purchase limit, read from the row just locked (a limit
set a moment earlier cannot be missed). A partial hold must see what is available before it
decides how much to take, so it locks the rows first (`SELECT ... FOR UPDATE`, product order)
and then takes the same path with the granted lines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.services.inventory.domain import Line, Reservation, grant_partial, in_lock_order
from flashsale.services.inventory.errors import (
    CustomerRequired,
    LimitExceeded,
    OutOfStock,
    UnknownProduct,
)
from flashsale.services.inventory.store import limits
from flashsale.services.inventory.store.sql import lock_stock_txn, move, refusal_txn

Levels = list[tuple[str, int]]


class Refused(Exception):
    """A retake could not be done; raised inside a savepoint to undo the lines already taken."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def hold_all_txn(conn: AsyncConnection, wanted: Reservation) -> Levels:
    """Hold every line, in lock order, and count it against the customer's limits, or raise
    (the caller's transaction then rolls back)."""
    levels: Levels = []
    per_customer: dict[str, int] = {}
    for line in wanted.lines:
        moved = await move(conn, line.product_id, line.quantity, "available", "reserved")
        if moved is None:
            raise await refusal_txn(conn, wanted, OutOfStock(line.product_id, line.quantity))
        levels.append((line.product_id, moved.level.available))
        if moved.purchase_limit is not None:
            per_customer[line.product_id] = moved.purchase_limit
    if not per_customer:
        return levels
    if wanted.customer_id is None:
        raise await refusal_txn(conn, wanted, CustomerRequired(min(per_customer)))
    over = await limits.count_lines_txn(conn, wanted.customer_id, wanted.lines, per_customer)
    if over is not None:
        refusal = LimitExceeded(over.product_id, per_customer[over.product_id], over.quantity)
        raise await refusal_txn(conn, wanted, refusal)
    return levels


# How an all-or-nothing hold takes stock inside the caller's transaction: `hold_all_txn` here; the
# bench's lock-then-write baseline elsewhere (bench/naive_inventory.py).
HoldStrategy = Callable[[AsyncConnection, Reservation], Awaitable[Levels]]
CONDITIONAL = "conditional"  # FLASHSALE_HOLD_STRATEGY for holds taken one transaction each


async def hold_partial_txn(conn: AsyncConnection, wanted: Reservation) -> tuple[Reservation, Levels]:
    """Hold as much of each line as is available and within the customer's limit; the lines
    that get nothing are left out. Refused only when nothing at all can be held."""
    locked = await lock_stock_txn(conn, (line.product_id for line in wanted.lines))
    missing = sorted({line.product_id for line in wanted.lines} - set(locked))
    if missing:
        raise await refusal_txn(conn, wanted, UnknownProduct(missing[0]))
    per_customer = {p: s.purchase_limit for p, s in locked.items() if s.purchase_limit is not None}
    units: dict[str, int] = {}
    if per_customer:
        if wanted.customer_id is None:
            raise await refusal_txn(conn, wanted, CustomerRequired(min(per_customer)))
        units = await limits.units_of(conn, wanted.customer_id, per_customer)
    available = {p: s.level.available for p, s in locked.items()}
    try:
        granted = grant_partial(wanted.lines, available, per_customer, units)
    except (OutOfStock, LimitExceeded) as refusal:
        raise await refusal_txn(conn, wanted, refusal) from None
    held = replace(wanted, lines=tuple(granted))
    # The rows are locked and the grant fits them: these moves cannot be refused.
    return held, await hold_all_txn(conn, held)


async def retake_txn(conn: AsyncConnection, reservation: Reservation) -> Levels | str:
    """Sell every line straight from available (the hold had ended before the order was paid),
    counted against the customer's limits, or none: the reason the retake was refused."""
    try:
        async with conn.begin_nested():
            return await _retake_lines(conn, reservation.lines, reservation.customer_id)
    except Refused as refused:
        return refused.reason


async def _retake_lines(conn: AsyncConnection, lines: Sequence[Line], customer_id: str | None) -> Levels:
    levels: Levels = []
    per_customer: dict[str, int] = {}
    for line in in_lock_order(lines):
        moved = await move(conn, line.product_id, line.quantity, "available", "sold")
        if moved is None:
            raise Refused("stock_unavailable")
        levels.append((line.product_id, moved.level.available))
        if moved.purchase_limit is not None:
            per_customer[line.product_id] = moved.purchase_limit
    if not per_customer:
        return levels
    # A retake takes stock anew: like a new hold of a limited product, it needs a customer to count
    # against (a hold taken without one, before the product had a limit, cannot be retaken).
    if customer_id is None:
        raise Refused("customer_required")
    if await limits.count_lines_txn(conn, customer_id, lines, per_customer):
        raise Refused("limit_exceeded")
    return levels
