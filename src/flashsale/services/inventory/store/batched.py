"""Coalesced holds (FLASHSALE_HOLD_STRATEGY=coalesced): concurrent holds of one product in this
process are granted a batch per transaction.

In a flash sale every buyer asks for the same product, so every hold meets the same stock row.
Taken one per transaction, each waits for the row (PostgreSQL) or the write lock (SQLite) and
then pays a transaction's round trips for one hold. Here the holds of a product queue in a
`kit.coalescer.Coalescer` (group commit: while one batch's transaction runs, the next one
gathers) and `grant_batch_txn` grants a whole batch in one transaction:

1. the orders of the batch that already hold stock (a retried reserve) get that hold, as on
   the single path; the rest are the batch's fresh holds;
2. one conditional UPDATE takes the sum of the fresh holds if that much is available (the common
   case while a sale lasts); otherwise the row is locked and read, and the holds are granted in
   arrival order as if each had come alone (`domain.grant_in_turn`: partial fills, later smaller
   holds that still fit), and one UPDATE takes what was granted;
3. one multi-row INSERT per table writes the granted reservations, one more their StockReserved
   events to the outbox, in the same transaction.

On PostgreSQL a batch first tries the common case in ONE statement (whole_batch.py: every hold
fits as asked, no order repeated); only when that writes nothing does it take the transaction
above.

Each waiting request then gets its own answer: its reservation, or its refusal. None is
answered before the commit. A batch that rolls back for the reasons below is run again one hold
per transaction; one that fails otherwise (the database went away mid-batch) answers every
request of it with that error (a 500): never a hold without its commit, never one twice.

What joins a batch: a hold of one product, all-or-nothing or partial, with or without an order id
and a customer. What goes the single path (`Inventory._reserve_one`), one hold per
transaction, as under the "conditional" strategy: multi-item holds (they lock several rows); every
hold of a product that has a purchase limit, or that is unknown (the batch finds that out on the
row, rolls back and hands each request to the single path, which counts each customer's units and
orders its refusals); and the whole batch again when its INSERT meets an order id that another
transaction has just used (a concurrent retry): the single path answers such a repeat with the
order's hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.coalescer import Coalescer
from flashsale.kit.db import Database
from flashsale.kit.faults import crash_point
from flashsale.kit.unit_of_work import Announcement, UnitOfWork
from flashsale.services.inventory import events, metrics
from flashsale.services.inventory.domain import Fulfilment, Line, Reservation, grant_in_turn
from flashsale.services.inventory.errors import OrderAlreadyReserved, OutOfStock
from flashsale.services.inventory.store import sql
from flashsale.services.inventory.store.whole_batch import announcement, grant_all_statement

STRATEGY = "coalesced"  # FLASHSALE_HOLD_STRATEGY
Answer = Reservation | Exception
SingleHold = Callable[[Reservation], Awaitable[Reservation]]


class OneByOne(Exception):
    """The batch cannot be granted as one (a limited or unknown product); raised to roll it back."""


def may_batch(wanted: Reservation) -> bool:
    """Whether a hold can join its product's batch (see the module doc for why the others cannot)."""
    return len(wanted.lines) == 1


@dataclass(frozen=True, slots=True)
class Asked:
    """A hold waiting for its batch, with what it would write if granted as asked, made before it
    queues (PostgreSQL's one-statement path) so that the batch in flight does not make it."""

    wanted: Reservation
    announcement: Announcement | None


class BatchedHolds:
    """The holds of each product queued and granted a batch per transaction."""

    def __init__(self, db: Database, single: SingleHold, *, max_batch: int, linger_s: float) -> None:
        self._db = db
        self._single = single
        self._coalescer: Coalescer[str, Asked, Reservation] = Coalescer(
            self._grant, max_batch=max_batch, linger_s=linger_s
        )

    async def reserve(self, wanted: Reservation) -> Reservation:
        """The hold, once its batch has committed; or its refusal, raised."""
        asked = Asked(wanted, None if self._db.is_sqlite else announcement(self._db, wanted))
        return await self._coalescer.submit(wanted.lines[0].product_id, asked)

    async def _grant(self, product_id: str, batch: list[Asked]) -> Sequence[Answer]:
        metrics.hold_batch_size.observe(len(batch))
        wanted = [asked.wanted for asked in batch]
        with metrics.hold_batch_seconds.time():
            left = await self._grant_whole(product_id, batch)
            if left is not None:
                answers: Sequence[Answer] = wanted
                available: int | None = left
            else:
                try:
                    async with self._db.unit_of_work() as uow:
                        answers, available = await grant_batch_txn(uow, product_id, wanted)
                        crash_point("hold.batch_written")  # crash tests: everything written, nothing committed
                except (OneByOne, IntegrityError):
                    return await self._one_by_one(wanted)
        metrics.holds_granted.inc(sum(1 for answer in answers if isinstance(answer, Reservation)))
        refused = sum(1 for answer in answers if isinstance(answer, OutOfStock))
        if refused:
            metrics.holds_refused.labels("out_of_stock").inc(refused)
        if available is not None:
            metrics.record_available([(product_id, available)])
        return answers

    async def _grant_whole(self, product_id: str, batch: list[Asked]) -> int | None:
        """On PostgreSQL, the common case in one statement (whole_batch.py): the units left once
        every hold of the batch is granted as asked; None when it was not (nothing written)."""
        if self._db.is_sqlite:
            return None
        announced = [asked.announcement for asked in batch if asked.announcement is not None]
        try:
            async with self._db.single_statement() as uow:
                crash_point("hold.batch_written")  # crash tests: the batch ready, nothing committed
                return await grant_all_statement(uow, product_id, [asked.wanted for asked in batch], announced)
        except IntegrityError:  # an order of the batch already holds stock: the general way answers it
            return None

    async def _one_by_one(self, batch: list[Reservation]) -> list[Answer]:
        answers = await asyncio.gather(*(self._single(wanted) for wanted in batch), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                raise answer  # cancellation: the whole batch stops
        return [answer for answer in answers if isinstance(answer, Reservation | Exception)]


async def grant_batch_txn(
    uow: UnitOfWork, product_id: str, batch: Sequence[Reservation]
) -> tuple[list[Answer], int | None]:
    """Grant holds of one product in arrival order, inside the caller's unit of work: the answer
    for each (its reservation or its refusal) and the units left available (None: the batch held
    only repeats and did not look). Raises `OneByOne` for a product that has a purchase limit or
    no stock row."""
    conn = uow.conn
    repeats = await sql.reservations_of_orders_txn(conn, [w.order_id for w in batch if w.order_id is not None])
    fresh = [w for w in batch if w.order_id not in repeats]
    quantities, available = await _take_txn(conn, product_id, fresh)
    held = [replace(w, lines=(Line(product_id, q),)) for w, q in zip(fresh, quantities, strict=True) if q]
    if held:
        await sql.insert_reservations_txn(conn, held)
        await uow.announce_all([(events.stock_reserved(r, r.created_at_ms), r.reservation_id) for r in held])
    granted = {r.reservation_id: r for r in held}
    answers: list[Answer] = []
    for wanted in batch:
        if wanted.order_id in repeats:
            answers.append(_repeat(repeats[wanted.order_id], wanted))
        else:
            answers.append(granted.get(wanted.reservation_id) or _refusal(wanted, available or 0))
    return answers, available


async def _take_txn(
    conn: AsyncConnection, product_id: str, fresh: Sequence[Reservation]
) -> tuple[list[int], int | None]:
    """Move the units of the holds that fit from available to reserved: (units granted to each, units left)."""
    asked = [w.lines[0].quantity for w in fresh]
    if not fresh:
        return [], None
    taken = await sql.move(conn, product_id, sum(asked), "available", "reserved")
    if taken is not None:  # everyone fits: one statement
        if taken.purchase_limit is not None:
            raise OneByOne(product_id)
        return asked, taken.level.available
    locked = (await sql.lock_stock_txn(conn, [product_id])).get(product_id)
    if locked is None or locked.purchase_limit is not None:
        raise OneByOne(product_id)
    granted = grant_in_turn(locked.level.available, [(w.lines[0].quantity, w.fulfilment) for w in fresh])
    if sum(granted):
        # The row is locked and the grant fits it: this move cannot be refused.
        await sql.must_move(conn, Line(product_id, sum(granted)), "available", "reserved")
    return granted, locked.level.available - sum(granted)


def _repeat(existing: Reservation, wanted: Reservation) -> Answer:
    """A retried reserve gets its order's hold, as on the single path (or is refused as another request)."""
    try:
        return sql.same_hold(existing, wanted.asked, wanted.fulfilment)
    except OrderAlreadyReserved as refusal:
        return refusal


def _refusal(wanted: Reservation, available: int) -> OutOfStock:
    line = wanted.lines[0]
    if wanted.fulfilment is Fulfilment.PARTIAL:
        return OutOfStock(line.product_id, line.quantity, available)
    return OutOfStock(line.product_id, line.quantity)
