"""The orders' SQL: `orders` and `order_lines` (the saga's tables are in sagas.py).

A status change is one conditional UPDATE guarded by the statuses it may come from, plus the
event announcing it in the outbox, in one transaction. Two instances (or a request and an event
handler) acting on one order race on that UPDATE: exactly one changes the row and announces it;
the other changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import EventData, Line, OrderCancelled, OrderCompleted, OrderConfirmed, OrderCreated
from flashsale.kit.clock import Clock
from flashsale.kit.coalescer import Coalescer
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.errors import DatabaseUnavailable, KeyTakenOver
from flashsale.kit.idempotency import Answer, KeyClaim, answer_txn
from flashsale.kit.statements import Statement, one_of, per_dialect
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.orders import SERVICE, domain
from flashsale.services.orders.domain import Contact
from flashsale.services.orders.store import placement as placement_sql
from flashsale.services.orders.store import sagas
from flashsale.services.orders.store.tables import customer_contacts, order_lines, orders

MAX_PLACEMENTS = 64  # orders written in one transaction at most


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    status: str
    status_reason: str | None
    reservation_id: str
    expires_at_ms: int | None
    amount_cents: int
    created_at_ms: int
    updated_at_ms: int
    paid_at_ms: int | None
    lines: tuple[domain.Line, ...] = ()


@dataclass(frozen=True)
class Placement:
    """An order to create, with the answer its request gives under an Idempotency-Key, if any."""

    order: Order
    answer: tuple[KeyClaim, Answer] | None


class OrderStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._placements: Coalescer[None, Placement, None] = Coalescer(self._create_batch, max_batch=MAX_PLACEMENTS)

    async def create(self, order: Order, *, answer: tuple[KeyClaim, Answer] | None = None) -> None:
        """The order, its lines, OrderCreated and its checkout saga, in one transaction: the one of
        the placements that arrive while another batch commits (group commit, kit.coalescer), so
        that a crowd's winners pay for one commit and one turn at the database's write lock per
        batch instead of one each (on SQLite, two instances taking turns at one file's lock
        placed 17 orders/s). `answer`: the request's Idempotency-Key and what it answers, stored
        in that transaction too (KeyTakenOver, and no order, when a retry has the key now)."""
        await self._placements.submit(None, Placement(order, answer))

    async def _create_batch(self, _lane: None, batch: list[Placement]) -> list[Exception | None]:
        if len(batch) == 1 and not self.db.is_sqlite:
            await self._place_alone(batch[0])  # raises as a batch of one does
            return [None]
        try:
            async with self.db.unit_of_work() as uow:
                await _create_all_txn(uow, batch)
            return [None] * len(batch)
        except DatabaseUnavailable:
            raise  # every placement of the batch meets the outage alike
        except Exception:
            if len(batch) == 1:
                raise
        # One placement spoiled the batch: each on its own, so only that one fails.
        return [await self._create_alone(placement) for placement in batch]

    async def _place_alone(self, placement: Placement) -> None:
        """A placement that arrived alone, in one statement on PostgreSQL (store/placement.py)."""
        order = placement.order
        created = self.db.announcement(_created(order), aggregate_id=order.order_id)
        async with self.db.single_statement() as uow:
            placed = await placement_sql.place_statement(uow, order, created, placement.answer)
        if not placed:
            raise KeyTakenOver()

    async def _create_alone(self, placement: Placement) -> Exception | None:
        try:
            async with self.db.unit_of_work() as uow:
                await _create_all_txn(uow, [placement])
        except Exception as error:  # noqa: BLE001 - this placement's own failure, handed to its caller
            return error
        return None

    async def get(self, order_id: str) -> Order | None:
        async with self.db.read() as conn:
            return await get_txn(conn, order_id)

    async def get_with_contact(self, order_id: str) -> tuple[Order, Contact | None] | None:
        """The order and its customer's contact, in one statement (every GET of an order shows both)."""
        async with self.db.read() as conn:
            rows = (await _GET_WITH_CONTACT.run(conn, {"b_order_id": order_id})).all()
        if not rows:
            return None
        first = rows[0]
        contact = (None if first.contact_customer_id is None else
                   Contact(first.contact_customer_id, first.contact_name, first.contact_email, first.contact_version))
        return _with_lines(rows), contact

    async def of_customer(self, customer_id: str, *, status: str | None, limit: int) -> list[Order]:
        """A customer's orders, newest first."""
        query = (sa.select(orders).where(orders.c.customer_id == customer_id)
                 .order_by(orders.c.created_at_ms.desc(), orders.c.order_id.desc()).limit(limit))
        if status is not None:
            query = query.where(orders.c.status == status)
        return await self._select(query)

    async def page(self, *, status: str | None, after: str | None, limit: int) -> list[Order]:
        """Every order in order-id order, `limit` at a time after `after` (for the auditor)."""
        query = sa.select(orders).order_by(orders.c.order_id).limit(limit)
        if status is not None:
            query = query.where(orders.c.status == status)
        if after is not None:
            query = query.where(orders.c.order_id > after)
        return await self._select(query)

    async def count_by_status(self) -> dict[str, int]:
        """How many orders are in each status (for the `orders_by_status` gauge)."""
        query = sa.select(orders.c.status, sa.func.count()).group_by(orders.c.status)
        async with self.db.read() as conn:
            return {str(row[0]): int(row[1]) for row in await conn.execute(query)}

    async def _select(self, query: sa.Select[tuple[object, ...]]) -> list[Order]:
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            lines = await _lines_txn(conn, [row.order_id for row in rows])
        return [replace(_order(row), lines=lines.get(row.order_id, ())) for row in rows]

    async def move_txn(
        self, uow: UnitOfWork, order_id: str, target: str, *,
        only_from: Sequence[str] | None = None, reason: str | None = None, cause: Envelope | None = None,
        refunded: bool = False,
    ) -> Order | None:
        """Move the order to `target` if it is in one of `only_from` (default: every status the
        state machine allows), announcing the change; otherwise leave it as it is (None). Returns
        the order as moved, without its lines: the UPDATE returns the row it changed, which is all
        the announcement needs."""
        sources = [s for s in (only_from or domain.STATUSES) if domain.can_move(s, target)]
        now = self.clock.now_ms()
        changed = (await (_PAY if target == domain.PAID else _MOVE).run(uow.conn, {
            "b_order_id": order_id, "b_sources": sources, "b_status": target, "b_reason": reason, "b_now": now,
        })).first()
        if changed is None:
            return None
        order = _order(changed)
        await _announce_txn(uow, order, _event_of(order, refunded=refunded), now, cause=cause)
        return order


# An order and its lines in one statement: a row per line (the order's columns on each), the
# line's columns labelled "line_<name>"; an order always has at least one line.
_LINE_COLUMNS = [column for column in order_lines.c if column.name != "order_id"]
_ORDER_WITH_LINES = (
    sa.select(orders, *[column.label(f"line_{column.name}") for column in _LINE_COLUMNS])
    .select_from(orders.outerjoin(order_lines, order_lines.c.order_id == orders.c.order_id))
    .order_by(order_lines.c.product_id)
)


# The same, with the customer's contact as the order service's copy has it (NULL when it has not
# heard of the customer yet): columns labelled "contact_<name>".
_ORDER_WITH_CONTACT = (
    _ORDER_WITH_LINES.add_columns(*[column.label(f"contact_{column.name}") for column in customer_contacts.c])
    .outerjoin(customer_contacts, customer_contacts.c.customer_id == orders.c.customer_id)
)


# The statements of the hot path, built once (kit/statements.py says why).
_INSERT_ORDERS = Statement(orders.insert())
_INSERT_LINES = Statement(order_lines.insert())
_GET = Statement(_ORDER_WITH_LINES.where(orders.c.order_id == sa.bindparam("b_order_id")))
_GET_WITH_CONTACT = Statement(_ORDER_WITH_CONTACT.where(orders.c.order_id == sa.bindparam("b_order_id")))
_MOVE_VALUES = {"status": sa.bindparam("b_status"), "status_reason": sa.bindparam("b_reason", type_=sa.String()),
                "updated_at_ms": sa.bindparam("b_now")}


def _moving(dialect: str) -> tuple[sa.ColumnElement[bool], ...]:
    return orders.c.order_id == sa.bindparam("b_order_id"), one_of(orders.c.status, "b_sources", dialect)


_MOVE = per_dialect(lambda dialect: orders.update().where(*_moving(dialect)).values(**_MOVE_VALUES)
                    .returning(*orders.c))
_PAY = per_dialect(lambda dialect: orders.update().where(*_moving(dialect))
                   .values(**_MOVE_VALUES, paid_at_ms=sa.bindparam("b_now")).returning(*orders.c))


async def get_txn(conn: AsyncConnection, order_id: str) -> Order | None:
    rows = (await _GET.run(conn, {"b_order_id": order_id})).all()
    return _with_lines(rows) if rows else None


def _with_lines(rows: Sequence[Any]) -> Order:
    """The order that `rows` (one per line, `_ORDER_WITH_LINES`' columns) spell out."""
    first = rows[0]._mapping
    lines = tuple(domain.Line(row.line_product_id, row.line_quantity, row.line_name, row.line_unit_price_cents)
                  for row in rows if row.line_product_id is not None)
    return Order(**{column.name: first[column.name] for column in orders.c}, lines=lines)


async def _lines_txn(conn: AsyncConnection, order_ids: list[str]) -> dict[str, tuple[domain.Line, ...]]:
    if not order_ids:
        return {}
    rows = await conn.execute(
        sa.select(order_lines).where(order_lines.c.order_id.in_(order_ids)).order_by(order_lines.c.product_id)
    )
    found: dict[str, list[domain.Line]] = {}
    for row in rows:
        found.setdefault(row.order_id, []).append(
            domain.Line(row.product_id, row.quantity, row.name, row.unit_price_cents)
        )
    return {order_id: tuple(lines) for order_id, lines in found.items()}


def _order(row: sa.Row[tuple[object, ...]]) -> Order:
    return Order(**row._mapping)


async def _create_all_txn(uow: UnitOfWork, placements: Sequence[Placement]) -> None:
    """New orders with their lines, OrderCreated events and sagas: a multi-row INSERT per table;
    and the answers of their Idempotency-Keys, in key order (kit/idempotency.py says why)."""
    conn = uow.conn
    batch = [placement.order for placement in placements]
    await _INSERT_ORDERS.run(conn, [_order_row(order) for order in batch])
    await _INSERT_LINES.run(conn, [
        {"order_id": order.order_id, "product_id": line.product_id, "quantity": line.quantity,
         "name": line.name, "unit_price_cents": line.unit_price_cents}
        for order in batch for line in order.lines
    ])
    await uow.announce_all([(_created(order), order.order_id) for order in batch])
    await sagas.start_all_txn(conn, [(order.order_id, order.reservation_id, order.created_at_ms) for order in batch])
    keyed = [placement.answer for placement in placements if placement.answer is not None]
    for claim, answer in sorted(keyed, key=lambda keyed: (keyed[0].scope, keyed[0].key)):
        await answer_txn(conn, claim, answer)


def _created(order: Order) -> Envelope:
    event = OrderCreated(order_id=order.order_id, customer_id=order.customer_id,
                         reservation_id=order.reservation_id, items=_event_lines(order))
    return _envelope(order, event, order.created_at_ms, cause=None)


def _order_row(order: Order) -> dict[str, object]:
    row = dict(order.__dict__)
    del row["lines"]
    return row


def _event_lines(order: Order) -> list[Line]:
    return [Line(product_id=line.product_id, quantity=line.quantity) for line in order.lines]


def _event_of(order: Order, *, refunded: bool) -> EventData:
    """The fact a status change announces."""
    if order.status == domain.PAID:
        return OrderConfirmed(order_id=order.order_id, reservation_id=order.reservation_id,
                              customer_id=order.customer_id)
    if order.status == domain.COMPLETED:
        return OrderCompleted(order_id=order.order_id, reservation_id=order.reservation_id,
                              customer_id=order.customer_id)
    if order.status == domain.CANCELLED:
        return OrderCancelled(order_id=order.order_id, reservation_id=order.reservation_id,
                              reason=order.status_reason or domain.CUSTOMER_CANCELLED,
                              customer_id=order.customer_id, refunded=refunded)
    raise ValueError(f"no event announces a move to {order.status}")


async def _announce_txn(
    uow: UnitOfWork, order: Order, event: EventData, now: int, *, cause: Envelope | None
) -> None:
    await uow.announce(_envelope(order, event, now, cause=cause), aggregate_id=order.order_id)


def _envelope(order: Order, event: EventData, now: int, *, cause: Envelope | None) -> Envelope:
    return Envelope.new(
        source=SERVICE.source, type=type(event).__name__, subject=order.order_id, data=event.to_data(), now_ms=now,
        correlation_id=(cause.correlationid or cause.id) if cause else order.order_id,
        causation_id=cause.id if cause else None,
    )
