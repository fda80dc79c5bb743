"""The catalog service's SQL: the only module that touches `products` and `availability`.

A product write is one transaction: the row is read (locked on PostgreSQL), the new version
decided, written, and ProductUpdated appended to the outbox in the same commit. Two creations
racing trip over the primary key; the loser decides again on what the winner committed.

`availability` is keyed by product id alone, with no reference to `products`: the inventory may
stock a product before the catalog lists it, and the level is there when it does. It is written
only with the inbox row of the inventory event that moved it: in its inbox transaction, or (on
PostgreSQL, a delta it can take) in one statement with it (`move_at_once`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import ProductUpdated
from flashsale.kit.clock import Clock, iso_from_ms, ms_from_iso
from flashsale.kit.coalescer import Coalescer
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.inbox import NOT_RECORDED, recording_cte, recording_values
from flashsale.kit.statements import Statement, one_of, per_dialect
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.catalog import SERVICE, domain
from flashsale.services.catalog.domain import Details

T = TypeVar("T")

metadata = sa.MetaData()

products = sa.Table(
    "products",
    metadata,
    sa.Column("product_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("price_cents", sa.BigInteger, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("image_url", sa.String(2048), nullable=True),
    sa.Column("sale_starts_ms", sa.BigInteger, nullable=True),
    sa.Column("sale_ends_ms", sa.BigInteger, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
)

availability = sa.Table(
    "availability",
    metadata,
    sa.Column("product_id", sa.String(100), primary_key=True),
    sa.Column("available", sa.BigInteger, nullable=False),
    sa.Column("as_of_ms", sa.BigInteger, nullable=False),
    sa.Column("last_event_id", sa.String(64), nullable=False),
    sa.CheckConstraint("available >= 0", name="ck_availability_available_nonnegative"),
)


@dataclass(frozen=True)
class Stock:
    """What the catalog last heard of a product's stock."""

    available: int
    as_of_ms: int
    last_event_id: str


@dataclass(frozen=True)
class Product:
    product_id: str
    details: Details
    version: int
    created_at_ms: int
    updated_at_ms: int
    stock: Stock | None


@dataclass(frozen=True)
class Write:
    """A write's outcome: the product as it now is, and whether it was created / changed."""

    product: Product
    created: bool
    changed: bool


Update = Callable[[Details | None], Details]


# Lookups answered by one read: the order service asks once per buy attempt, so a crowd's
# attempts arrive together.
MAX_LOOKUPS = 64  # x at most 100 ids each: within both databases' limits on bound parameters


class CatalogStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._lookups: Coalescer[None, tuple[str, ...], list[Product]] = Coalescer(
            self._find_batch, max_batch=MAX_LOOKUPS)

    async def find(self, product_id: str) -> Product | None:
        async with self.db.read() as conn:
            found = await _select_txn(conn, [product_id])
        return found[0] if found else None

    async def find_many(self, product_ids: Sequence[str]) -> list[Product]:
        """The listed ones of these products, in the order asked for. Lookups that arrive while
        another is being read go together in the next read (kit.coalescer): under a crowd one
        SELECT answers them all instead of a read transaction each (on SQLite a thread hop per
        statement; the batch lookup was ~1.9 ms of the catalog's CPU per buy attempt). Each
        read starts after every lookup in it arrived, so it sees every write committed before."""
        return await self._lookups.submit(None, tuple(product_ids))

    async def _find_batch(self, _: None, lookups: list[tuple[str, ...]]) -> list[list[Product]]:
        wanted = list(dict.fromkeys(p for lookup in lookups for p in lookup))
        async with self.db.read() as conn:
            found = {product.product_id: product for product in await _select_txn(conn, wanted)}
        return [[found[p] for p in lookup if p in found] for lookup in lookups]

    async def page(self, after: str | None, limit: int) -> list[Product]:
        """Up to `limit` products in product id order, after `after`."""
        query = _joined().order_by(products.c.product_id).limit(limit)
        if after is not None:
            query = query.where(products.c.product_id > after)
        async with self.db.read() as conn:
            return [_product(row) for row in await conn.execute(query)]

    async def write(self, product_id: str, update: Update, *, create: bool) -> Write | None:
        """Apply `update` to the product's details (None when it does not exist and `create` is
        False); a new version and its event when something changed."""
        async def attempt(uow: UnitOfWork) -> Write | None:
            return await self._write_txn(uow, product_id, update, create)

        return await self._once_more_on_conflict(attempt)

    async def _once_more_on_conflict(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        try:
            async with self.db.unit_of_work() as uow:
                return await work(uow)
        except IntegrityError:
            pass  # a concurrent PUT created the product first: decide again on what it wrote
        async with self.db.unit_of_work() as uow:
            return await work(uow)

    async def _write_txn(self, uow: UnitOfWork, product_id: str, update: Update, create: bool) -> Write | None:
        conn = uow.conn
        row = (await conn.execute(
            sa.select(products).where(products.c.product_id == product_id).with_for_update()
        )).first()
        if row is None and not create:
            return None
        before = None if row is None else _details(row)
        after = update(before)
        version = domain.next_version(None if row is None else row.version, before, after)
        if version is None:
            found = await _select_txn(conn, [product_id])
            return Write(found[0], created=False, changed=False)
        now = self.clock.now_ms()
        values = {**_columns(after), "version": version, "updated_at_ms": now}
        if row is None:
            await conn.execute(products.insert().values(product_id=product_id, created_at_ms=now, **values))
        else:
            await conn.execute(products.update().where(products.c.product_id == product_id).values(**values))
        await _announce_txn(uow, product_id, after, version, now)
        found = await _select_txn(conn, [product_id])
        return Write(found[0], created=row is None, changed=True)

    async def stock_txn(self, conn: AsyncConnection, product_id: str) -> Stock | None:
        """The product's stock level, locked (on PostgreSQL) until the caller's transaction ends."""
        row = (await _LOCK_STOCK.run(conn, {"b_product_id": product_id})).first()
        return None if row is None else Stock(row.available, row.as_of_ms, row.last_event_id)

    async def stocks(self, product_ids: Sequence[str]) -> dict[str, Stock]:
        """The stock levels known of these products (those with none are left out)."""
        if not product_ids:
            return {}
        async with self.db.read() as conn:
            rows = await conn.execute(sa.select(availability).where(availability.c.product_id.in_(product_ids)))
            return {row.product_id: Stock(row.available, row.as_of_ms, row.last_event_id) for row in rows}

    async def move_at_once(self, consumer: str, envelope: Envelope, product_id: str, delta: int) -> bool:
        """PostgreSQL: the common case of an event's change to availability, one product's level
        moved by a delta it can take, in ONE statement with the event's inbox row (`_MOVE_AT_ONCE`),
        where the inbox's transaction is a BEGIN, the inbox row, the level read and locked, the level
        written and a COMMIT. False when nothing was written (or on SQLite): no level to move from,
        a move that would go below zero (clamped), a copy of the event handled before or meanwhile;
        then the general way (the inbox's transaction) decides and counts."""
        if self.db.is_sqlite:
            return False
        try:
            async with self.db.single_statement() as uow:
                moved = (await _MOVE_AT_ONCE.run(uow.conn, {
                    "product_id": product_id, "delta": delta, "as_of_ms": ms_from_iso(envelope.time),
                    "event_id": envelope.id, **recording_values(consumer, envelope, self.clock.now_ms()),
                })).first()
        except IntegrityError:  # a copy recorded meanwhile: the general way finds it seen
            return False
        return moved is not None

    async def repair_stock(self, product_id: str, seen: Stock | None, source: Stock) -> domain.Verdict:
        """Set the level to `source` if it is still the level `seen` and differs (compare-and-set in
        one transaction, the row locked on PostgreSQL, so an event applied meanwhile is never
        overwritten). A level created by an event in the meantime makes the insert collide: MOVED."""
        seen_event = None if seen is None else seen.last_event_id
        try:
            async with self.db.transaction() as conn:
                current = await self.stock_txn(conn, product_id)
                found = domain.verdict(seen_event, None if current is None else current.last_event_id,
                                       None if current is None else current.available, source.available)
                if found is domain.Verdict.REPAIR:
                    await self.set_stock_txn(conn, product_id, source, exists=current is not None)
                return found
        except IntegrityError:
            return domain.Verdict.MOVED

    async def set_stock_txn(self, conn: AsyncConnection, product_id: str, stock: Stock, *, exists: bool) -> None:
        if exists:
            await _SET_STOCK.run(conn, {"b_product_id": product_id, "b_available": stock.available,
                                        "b_as_of_ms": stock.as_of_ms, "b_last_event_id": stock.last_event_id})
        else:
            await _ADD_STOCK.run(conn, {"product_id": product_id, "available": stock.available,
                                        "as_of_ms": stock.as_of_ms, "last_event_id": stock.last_event_id})


def _joined() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        products, availability.c.available, availability.c.as_of_ms, availability.c.last_event_id
    ).select_from(products.outerjoin(availability, availability.c.product_id == products.c.product_id))


# What every batch of products and every stock fact runs, built once (kit/statements.py says why).
_SELECT = per_dialect(lambda dialect: _joined().where(one_of(products.c.product_id, "b_product_ids", dialect)))
_THIS_PRODUCT = availability.c.product_id == sa.bindparam("b_product_id")
_LOCK_STOCK = Statement(sa.select(availability).where(_THIS_PRODUCT).with_for_update())
_SET_STOCK = Statement(availability.update().where(_THIS_PRODUCT).values(
    available=sa.bindparam("b_available"), as_of_ms=sa.bindparam("b_as_of_ms"),
    last_event_id=sa.bindparam("b_last_event_id"),
))
_ADD_STOCK = Statement(availability.insert())
# A level moved and the event recorded, only together: a statement commits whole or not at all. An
# UPDATE that waited for the row's lock checks its conditions again on the row as the other
# transaction left it. Its result column named, it runs by asyncpg (kit/statements.py).
_MOVE_AT_ONCE = Statement(sa.text(f"""
WITH moved AS (
    UPDATE {availability.name}
    SET available = available + :delta, as_of_ms = :as_of_ms, last_event_id = :event_id
    WHERE product_id = :product_id AND available + :delta >= 0 AND {NOT_RECORDED}
    RETURNING available
), {recording_cte("EXISTS (SELECT FROM moved)")}
SELECT available FROM moved
""").columns(available=sa.BigInteger))


async def _select_txn(conn: AsyncConnection, product_ids: Sequence[str]) -> list[Product]:
    """The listed ones of these products, in the order asked for."""
    rows = await _SELECT.run(conn, {"b_product_ids": list(product_ids)})
    found = {row.product_id: _product(row) for row in rows}
    return [found[p] for p in product_ids if p in found]


def _details(row: sa.Row[tuple[object, ...]]) -> Details:
    m = row._mapping
    return Details(m["name"], m["price_cents"], m["description"], m["image_url"],
                   m["sale_starts_ms"], m["sale_ends_ms"])


def _product(row: sa.Row[tuple[object, ...]]) -> Product:
    m = row._mapping
    stock = None if m["available"] is None else Stock(m["available"], m["as_of_ms"], m["last_event_id"])
    return Product(m["product_id"], _details(row), m["version"], m["created_at_ms"], m["updated_at_ms"], stock)


def _columns(details: Details) -> dict[str, object]:
    return {
        "name": details.name, "price_cents": details.price_cents, "description": details.description,
        "image_url": details.image_url, "sale_starts_ms": details.sale_starts_ms,
        "sale_ends_ms": details.sale_ends_ms,
    }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_from_ms(ms)


async def _announce_txn(uow: UnitOfWork, product_id: str, details: Details, version: int, now: int) -> None:
    event = ProductUpdated(
        product_id=product_id, version=version, name=details.name, price_cents=details.price_cents,
        description=details.description, image_url=details.image_url,
        sale_starts_at=_iso(details.sale_starts_ms), sale_ends_at=_iso(details.sale_ends_ms),
    )
    envelope = Envelope.new(source=SERVICE.source, type="ProductUpdated", subject=product_id,
                            data=event.to_data(), now_ms=now, correlation_id=product_id)
    await uow.announce(envelope, aggregate_id=product_id)
