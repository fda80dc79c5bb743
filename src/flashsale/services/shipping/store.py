"""The shipping service's SQL: the only module that touches `shipments`, `shipment_lines` and
`product_shipping`.

Every change is one transaction: the decision is taken on what that transaction reads, the
change is written, and the event announcing it goes to the outbox in the same commit. An order
has at most one shipment row (a unique order id), so two requests racing to create it — two
schedules, or a schedule and a cancel's tombstone — cannot both succeed: the loser's insert fails,
and it decides again on what the winner committed. A status change is a conditional UPDATE from
SCHEDULED, so of two cancels racing exactly one announces it. On PostgreSQL the common schedule,
a first one whose products may all be shipped, is one statement instead (`_create_at_once`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import EventData, ShipmentCancelled, ShipmentScheduled
from flashsale.contracts.events import Line as EventLine
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import Statement, one_of, per_dialect
from flashsale.kit.unit_of_work import UnitOfWork, announcing_cte
from flashsale.services.shipping import SERVICE, domain
from flashsale.services.shipping.domain import Line

T = TypeVar("T")

metadata = sa.MetaData()

shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("shipment_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("order_id", name="uq_shipments_order_id"),
    sa.CheckConstraint("status IN ('SCHEDULED', 'CANCELLED')", name="ck_shipments_status"),
)

shipment_lines = sa.Table(
    "shipment_lines",
    metadata,
    sa.Column("shipment_id", sa.String(64), sa.ForeignKey("shipments.shipment_id"), primary_key=True),
    sa.Column("product_id", sa.String(100), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.CheckConstraint("quantity > 0", name="ck_shipment_lines_quantity_positive"),
)

product_shipping = sa.Table(
    "product_shipping",
    metadata,
    sa.Column("product_id", sa.String(100), primary_key=True),
    sa.Column("shippable", sa.Boolean, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Shipment:
    shipment_id: str
    order_id: str
    status: str
    reason: str | None
    lines: tuple[Line, ...]
    created_at_ms: int
    updated_at_ms: int


@dataclass(frozen=True)
class Scheduling:
    """A schedule request's outcome: what was decided, the shipment (none when refused for
    unshippable products) and those products."""

    decision: domain.Schedule
    shipment: Shipment | None
    unshippable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cancellation:
    """A cancel request's outcome: what was done, and the shipment as it now is."""

    decision: domain.Cancel
    shipment: Shipment


class ShipmentStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def find(self, order_id: str) -> Shipment | None:
        async with self.db.read() as conn:
            return await _find_txn(conn, order_id)

    async def schedule(self, order_id: str, lines: Sequence[Line]) -> Scheduling:
        """Create the order's shipment with its event, or say why not (see domain.schedule)."""
        created = await self._create_at_once(order_id, lines)
        if created is not None:
            return Scheduling(domain.Schedule.CREATE, created)
        return await self._once_more_on_conflict(lambda uow: self._schedule_txn(uow, order_id, lines))

    async def _create_at_once(self, order_id: str, lines: Sequence[Line]) -> Shipment | None:
        """PostgreSQL: the common case, an order seen for the first time whose products may all be
        shipped, in ONE statement (`_CREATE_AT_ONCE`): the shipment, its lines and its event,
        written only when the order has no shipment yet (its unique order id) and no product of it
        is marked unshippable, which is when `domain.schedule` says CREATE. None when it wrote
        nothing (or on SQLite): then the general way reads and decides (a repeat, a tombstone,
        an unshippable product). One round trip where the transaction took seven."""
        if self.db.is_sqlite:
            return None
        now = self.clock.now_ms()
        shipment = Shipment(f"shp-{uuid.uuid4()}", order_id, domain.SCHEDULED, None,
                            domain.in_product_order(lines), now, now)
        scheduled = self.db.announcement(_envelope(shipment, _scheduled(shipment), now), aggregate_id=order_id)
        async with self.db.single_statement() as uow:
            created = await uow.execute_announcing(_CREATE_AT_ONCE, {
                "shipment_id": shipment.shipment_id, "order_id": order_id, "status": shipment.status, "now": now,
                "product_ids": [line.product_id for line in shipment.lines],
                "quantities": [line.quantity for line in shipment.lines],
            }, [scheduled])
        return None if created is None else shipment

    async def cancel(self, order_id: str) -> Cancellation:
        """SCHEDULED -> CANCELLED with its event; a tombstone when nothing was scheduled yet."""
        return await self._once_more_on_conflict(lambda uow: self._cancel_txn(uow, order_id))

    async def shippable(self, product_id: str) -> bool:
        """Whether the product may be shipped; a product never marked is."""
        async with self.db.read() as conn:
            found = await conn.scalar(
                sa.select(product_shipping.c.shippable).where(product_shipping.c.product_id == product_id)
            )
        return True if found is None else bool(found)

    async def set_shippable(self, product_id: str, shippable: bool) -> bool:
        now = self.clock.now_ms()
        async with self.db.transaction() as conn:
            insert = dialect_insert(conn.dialect.name, product_shipping).values(
                product_id=product_id, shippable=shippable, updated_at_ms=now
            )
            await conn.execute(insert.on_conflict_do_update(
                index_elements=[product_shipping.c.product_id],
                set_={"shippable": insert.excluded.shippable, "updated_at_ms": insert.excluded.updated_at_ms},
            ))
        return shippable

    async def _once_more_on_conflict(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        try:
            async with self.db.unit_of_work() as uow:
                return await work(uow)
        except IntegrityError:
            pass  # a concurrent request created this order's shipment (or tombstone) first: decide again
        async with self.db.unit_of_work() as uow:
            return await work(uow)

    async def _schedule_txn(self, uow: UnitOfWork, order_id: str, lines: Sequence[Line]) -> Scheduling:
        conn = uow.conn
        found = await _find_txn(conn, order_id)
        refused = await _unshippable_txn(conn, lines) if found is None else []
        decision = domain.schedule(None if found is None else found.status, refused)
        if decision is not domain.Schedule.CREATE:
            return Scheduling(decision, found, tuple(refused))
        now = self.clock.now_ms()
        created = Shipment(f"shp-{uuid.uuid4()}", order_id, domain.SCHEDULED, None,
                           domain.in_product_order(lines), now, now)
        await _insert_txn(conn, created)
        await _announce_txn(uow, created, _scheduled(created), now)
        return Scheduling(decision, created)

    async def _cancel_txn(self, uow: UnitOfWork, order_id: str) -> Cancellation:
        conn = uow.conn
        found = await _find_txn(conn, order_id)
        decision = domain.cancel(None if found is None else found.status)
        now = self.clock.now_ms()
        if found is None:
            tombstone = Shipment(f"shp-{uuid.uuid4()}", order_id, domain.CANCELLED,
                                 domain.CANCELLED_BEFORE_SCHEDULING, (), now, now)
            await _insert_txn(conn, tombstone)
            return Cancellation(decision, tombstone)
        if decision is domain.Cancel.CANCEL and await _cancel_scheduled_txn(conn, found, now):
            event = ShipmentCancelled(shipment_id=found.shipment_id, order_id=order_id,
                                      reason=domain.ORDER_CANCELLED)
            await _announce_txn(uow, found, event, now)
            return Cancellation(decision, await _get_txn(conn, order_id))
        # Already cancelled, or another request cancelled it between our read and our update.
        return Cancellation(domain.Cancel.ALREADY_CANCELLED, await _get_txn(conn, order_id))


# The statements of a scheduling, built once (kit/statements.py says why).
_FIND = Statement(sa.select(shipments).where(shipments.c.order_id == sa.bindparam("b_order_id")))
_LINES = Statement(sa.select(shipment_lines.c.product_id, shipment_lines.c.quantity)
          .where(shipment_lines.c.shipment_id == sa.bindparam("b_shipment_id"))
          .order_by(shipment_lines.c.product_id))
_UNSHIPPABLE = per_dialect(lambda dialect: sa.select(product_shipping.c.product_id).where(
    one_of(product_shipping.c.product_id, "b_product_ids", dialect), product_shipping.c.shippable.is_(False),
))
_CREATE = Statement(shipments.insert())
_ADD_LINES = Statement(shipment_lines.insert())
# PostgreSQL (`ShipmentStore._create_at_once`). A statement commits whole or not at all; its
# result column named, it runs by asyncpg without SQLAlchemy's execution around it (kit/statements.py).
_CREATE_AT_ONCE = Statement(sa.text(f"""
WITH created AS (
    INSERT INTO {shipments.name} (shipment_id, order_id, status, reason, created_at_ms, updated_at_ms)
    SELECT CAST(:shipment_id AS text), CAST(:order_id AS text), CAST(:status AS text), NULL,
           CAST(:now AS bigint), CAST(:now AS bigint)
    WHERE NOT EXISTS (SELECT FROM {product_shipping.name}
                      WHERE product_id = ANY(CAST(:product_ids AS text[])) AND shippable IS false)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING shipment_id
), lines AS (
    INSERT INTO {shipment_lines.name} (shipment_id, product_id, quantity)
    SELECT created.shipment_id, line.product_id, line.quantity
    FROM created, unnest(CAST(:product_ids AS text[]), CAST(:quantities AS integer[])) AS line(product_id, quantity)
), {announcing_cte("EXISTS (SELECT FROM created)")}
SELECT shipment_id FROM created
""").columns(shipment_id=sa.String))


async def _find_txn(conn: AsyncConnection, order_id: str) -> Shipment | None:
    row = (await _FIND.run(conn, {"b_order_id": order_id})).first()
    if row is None:
        return None
    rows = await _LINES.run(conn, {"b_shipment_id": row.shipment_id})
    lines = tuple(Line(product_id, quantity) for product_id, quantity in rows)
    return Shipment(row.shipment_id, row.order_id, row.status, row.reason, lines,
                    row.created_at_ms, row.updated_at_ms)


async def _get_txn(conn: AsyncConnection, order_id: str) -> Shipment:
    found = await _find_txn(conn, order_id)
    if found is None:
        raise RuntimeError(f"the shipment of order {order_id!r} vanished inside its transaction")
    return found


async def _unshippable_txn(conn: AsyncConnection, lines: Sequence[Line]) -> list[str]:
    refused = await _UNSHIPPABLE.run(conn, {"b_product_ids": [line.product_id for line in lines]})
    return domain.unshippable_products(lines, {row.product_id for row in refused})


async def _insert_txn(conn: AsyncConnection, shipment: Shipment) -> None:
    # The shipment row first: its unique order id is what a concurrent duplicate trips over.
    await _CREATE.run(conn, {
        "shipment_id": shipment.shipment_id, "order_id": shipment.order_id, "status": shipment.status,
        "reason": shipment.reason, "created_at_ms": shipment.created_at_ms, "updated_at_ms": shipment.updated_at_ms,
    })
    if shipment.lines:
        await _ADD_LINES.run(conn, [
            {"shipment_id": shipment.shipment_id, "product_id": line.product_id, "quantity": line.quantity}
            for line in shipment.lines
        ])


async def _cancel_scheduled_txn(conn: AsyncConnection, shipment: Shipment, now: int) -> bool:
    cancelled = await conn.execute(
        shipments.update()
        .where(shipments.c.shipment_id == shipment.shipment_id, shipments.c.status == domain.SCHEDULED)
        .values(status=domain.CANCELLED, reason=domain.ORDER_CANCELLED, updated_at_ms=now)
    )
    return bool(cancelled.rowcount == 1)


def _scheduled(shipment: Shipment) -> ShipmentScheduled:
    return ShipmentScheduled(
        shipment_id=shipment.shipment_id, order_id=shipment.order_id,
        items=[EventLine(product_id=line.product_id, quantity=line.quantity) for line in shipment.lines],
    )


async def _announce_txn(uow: UnitOfWork, shipment: Shipment, event: EventData, now: int) -> None:
    await uow.announce(_envelope(shipment, event, now), aggregate_id=shipment.order_id)


def _envelope(shipment: Shipment, event: EventData, now: int) -> Envelope:
    return Envelope.new(source=SERVICE.source, type=type(event).__name__, subject=shipment.order_id,
                        data=event.to_data(), now_ms=now, correlation_id=shipment.order_id)
