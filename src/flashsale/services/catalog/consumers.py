"""The inventory's stock facts, turned into the catalog's availability read model exactly once.

Routing is an explicit map from event type to the changes it makes per product (absolute or a
delta, see domain.py). The changes are written inside the inbox transaction
(`kit.inbox.apply_once`), so a redelivered or twice-published event moves nothing more. Events
fetched together are applied together, in stream order, in one such transaction
(`apply_batch_once`): every hold is a StockReserved, and a transaction each cost the catalog about
as much CPU per hold as the hold cost the inventory (bench.front_door, holds in the running house).
A batch of one event that moves one product's level by a delta it can take (a hold taken or
given back, with no crowd) is one statement on PostgreSQL instead (`move_at_once`).
ReservationConfirmed is not subscribed to: a confirmation turns held units into sold ones and
moves nothing that was available.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import (
    Line,
    ReservationExpired,
    ReservationReleased,
    ReservationRevoked,
    StockAdjusted,
    StockReceived,
    StockReserved,
)
from flashsale.kit.bus import Subscription
from flashsale.kit.clock import ms_from_iso
from flashsale.kit.envelope import Envelope
from flashsale.kit.inbox import applied, apply_batch_once, apply_once
from flashsale.kit.routing import EventRoutes
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.catalog import domain, metrics
from flashsale.services.catalog.domain import Change, Move, SetTo
from flashsale.services.catalog.store import CatalogStore, Stock

log = structlog.get_logger(__name__)

CONSUMER = "catalog"
PRODUCER = "inventory"

Changes = list[tuple[str, Change]]


def received(fact: StockReceived) -> Changes:
    return [(fact.product_id, SetTo(fact.available))]


def adjusted(fact: StockAdjusted) -> Changes:
    return [(fact.product_id, SetTo(fact.available))]


def reserved(fact: StockReserved) -> Changes:
    return _moves(fact.items, -1)


def released(fact: ReservationReleased) -> Changes:
    return _moves(fact.items, +1)


def expired(fact: ReservationExpired) -> Changes:
    return _moves(fact.items, +1)


def revoked(fact: ReservationRevoked) -> Changes:
    # Held (stage HELD) and sold (stage CONFIRMED) units alike return to available.
    return _moves(fact.items, +1)


def _moves(items: Iterable[Line], sign: int) -> Changes:
    """One move per product (a product named on two lines moves once, by their sum)."""
    totals: Counter[str] = Counter()
    for item in items:
        totals[item.product_id] += item.quantity
    return [(product_id, Move(sign * quantity)) for product_id, quantity in sorted(totals.items())]


# What each stock fact changes in the availability model (each takes its own class: `Any`).
STOCK_ROUTES: EventRoutes[Callable[[Any], Changes]] = EventRoutes({
    StockReceived: received,
    StockAdjusted: adjusted,
    StockReserved: reserved,
    ReservationReleased: released,
    ReservationExpired: expired,
    ReservationRevoked: revoked,
})


@dataclass
class Applied:
    """What one event did, counted once its transaction committed."""

    clamped: int = 0
    skipped: list[str] = field(default_factory=list)


def stock_levels(store: CatalogStore) -> Subscription:
    """The catalog's durable subscription to the inventory's stream."""

    async def handle(envelope: Envelope) -> None:
        routed = STOCK_ROUTES.route(envelope)  # a malformed payload raises: retried, then dead-lettered
        if routed is None:
            log.warning("unexpected_event", type=envelope.type, id=envelope.id)
            return
        fact, changes_of = routed
        await apply_changes(store, envelope, changes_of(fact))

    async def handle_batch(envelopes: Sequence[Envelope]) -> None:
        known: list[tuple[Envelope, Changes]] = []
        for envelope in envelopes:
            routed = STOCK_ROUTES.route(envelope)  # a malformed payload raises: the batch goes again one by one
            if routed is None:
                log.warning("unexpected_event", type=envelope.type, id=envelope.id)
                continue
            fact, changes_of = routed
            known.append((envelope, changes_of(fact)))
        if len(known) == 1 and await move_at_once(store, *known[0]):
            return  # a batch of one event (no crowd): the common case in one statement
        await apply_changes_batch(store, known)

    return Subscription(consumer=CONSUMER, producer=PRODUCER, event_types=STOCK_ROUTES.event_types, handler=handle,
                        batch_handler=handle_batch)


async def move_at_once(store: CatalogStore, envelope: Envelope, changes: Changes) -> bool:
    """The common case of `apply_changes` (a hold taken or given back: one product's level moved by
    a delta it can take) in one statement with the event's inbox row (PostgreSQL;
    `CatalogStore.move_at_once`). False: nothing written, the general way applies it."""
    if len(changes) != 1:
        return False
    product_id, move = changes[0]
    if not isinstance(move, Move) or not await store.move_at_once(CONSUMER, envelope, product_id, move.delta):
        return False
    applied(CONSUMER, envelope)
    return True


async def apply_changes(store: CatalogStore, envelope: Envelope, changes: Changes) -> bool:
    """Apply the event's changes in its inbox transaction; False when it was seen before."""

    async def effect(uow: UnitOfWork, env: Envelope) -> Applied:
        applied = Applied()
        for product_id, change in changes:
            await _apply_txn(store, uow.conn, env, product_id, change, applied)
        return applied

    applied = await apply_once(store.db, CONSUMER, envelope, effect, store.clock)
    if applied is None:
        return False
    _count(envelope, applied)
    return True


async def apply_changes_batch(store: CatalogStore, batch: list[tuple[Envelope, Changes]]) -> None:
    """The batch's new events' changes, in order, folded per product: each product's level is
    read once (in product order, so two batches lock alike) and written once, in one inbox
    transaction for the batch."""
    changes = {envelope.id: changes for envelope, changes in batch}

    async def effect(uow: UnitOfWork, new: list[Envelope]) -> dict[str, Applied]:
        """What each new event did, by its id."""
        conn = uow.conn
        applied = {env.id: Applied() for env in new}
        products = sorted({product_id for env in new for product_id, _ in changes[env.id]})
        known = {p: await store.stock_txn(conn, p) for p in products}
        levels = dict(known)
        for env in new:
            for product_id, change in changes[env.id]:
                levels[product_id] = _moved(levels[product_id], env, change, applied[env.id], product_id)
        for product_id in products:
            level = levels[product_id]
            if level is not None and level != known[product_id]:
                await store.set_stock_txn(conn, product_id, level, exists=known[product_id] is not None)
        return applied

    applied = await apply_batch_once(store.db, CONSUMER, [envelope for envelope, _ in batch], effect, store.clock)
    for envelope, _ in batch:
        if envelope.id in applied:
            _count(envelope, applied.pop(envelope.id))  # popped: a second copy in the batch counts nothing


def _moved(
    current: Stock | None, envelope: Envelope, change: Change, applied: Applied, product_id: str,
) -> Stock | None:
    """The level `change` leaves (`current` when there is none to move from: skipped)."""
    level = domain.level_after(None if current is None else current.available, change)
    if level is None:
        applied.skipped.append(product_id)
        return current
    if level.clamped:
        applied.clamped += 1
        log.warning("availability_clamped", product_id=product_id, type=envelope.type, id=envelope.id)
    return Stock(level.available, ms_from_iso(envelope.time), envelope.id)


def _count(envelope: Envelope, applied: Applied) -> None:
    metrics.availability_clamped.inc(applied.clamped)
    for product_id in applied.skipped:
        metrics.availability_skipped.labels(envelope.type).inc()
        log.warning("availability_delta_skipped", reason="no_known_level", product_id=product_id,
                    type=envelope.type, id=envelope.id)


async def _apply_txn(
    store: CatalogStore, conn: AsyncConnection, envelope: Envelope, product_id: str, change: Change,
    applied: Applied,
) -> None:
    current = await store.stock_txn(conn, product_id)
    level = _moved(current, envelope, change, applied, product_id)
    if level is not None and level != current:
        await store.set_stock_txn(conn, product_id, level, exists=current is not None)
