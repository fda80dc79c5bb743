"""What the reporting projection keeps of each event, and the arithmetic of its reports. Pure.

The projection keeps every event as it came (a `Fact`), with the few fields the reports ask about
taken out of its payload: the order, reservation, amount, reason, stage and the product lines
(product id and units) it is about. The reports are SQL over these facts (store.py); what is
left to Python is here: reading a payload, and the ratios.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flashsale.contracts import events
from flashsale.contracts.events import EventData

# Every service that publishes events, each on a stream of its own: the projection reads them all.
PRODUCERS = ("inventory", "orders", "payments", "shipping", "catalog", "customers")
BUCKET_MS = {"1s": 1_000, "10s": 10_000, "1m": 60_000}

# The payload model of every event type we know: a malformed payload of a known type fails loudly
# (retried, then dead-lettered) instead of being counted wrong. A type not listed here (one added
# after this projection) is kept as it came, with whatever fields it shares with the others.
CONTRACTS: dict[str, type[EventData]] = {
    model.__name__: model
    for model in (
        events.StockReceived, events.StockAdjusted, events.StockReserved, events.ReservationReleased,
        events.ReservationExpired, events.ReservationConfirmed, events.ReservationRevoked,
        events.ReservationRejected, events.OrderCreated, events.OrderConfirmed, events.OrderCancelled,
        events.OrderCompleted, events.ShipmentScheduled, events.ShipmentCancelled, events.PaymentAuthorised,
        events.PaymentCaptured, events.PaymentVoided, events.PaymentDeclined, events.PaymentRefunded,
        events.ProductUpdated, events.CustomerUpdated,
    )
}

ProductLine = tuple[str, int]  # (product id, units)


@dataclass(frozen=True)
class Fact:
    """One event as the projection keeps it. `lines`: the products it is about, with units (a
    hold's items; a receipt's quantity; an adjustment's delta; 0 for a product change)."""

    event_id: str
    type: str
    producer: str
    subject: str
    happened_ms: int
    data: Mapping[str, Any]
    order_id: str | None = None
    reservation_id: str | None = None
    amount_cents: int | None = None
    reason: str | None = None
    stage: str | None = None
    refunded: bool | None = None
    lines: tuple[ProductLine, ...] = ()


def fact_of(
    *, event_id: str, type: str, producer: str, subject: str, happened_ms: int, data: Mapping[str, Any]
) -> Fact:
    """The fact of one event; raises ValueError when a known type's payload breaks its contract."""
    model = CONTRACTS.get(type)
    if model is not None:
        model.model_validate(data)  # pydantic's ValidationError is a ValueError
    return Fact(
        event_id=event_id, type=type, producer=producer, subject=subject, happened_ms=happened_ms, data=data,
        order_id=_text(data.get("orderId")), reservation_id=_text(data.get("reservationId")),
        amount_cents=_whole(data.get("amountCents")), reason=_text(data.get("reason")),
        stage=_text(data.get("stage")), refunded=_flag(data.get("refunded")), lines=lines_of(data),
    )


def lines_of(data: Mapping[str, Any]) -> tuple[ProductLine, ...]:
    """The product lines of a payload: its `items`, or the one `productId` it names."""
    items = data.get("items")
    if isinstance(items, list):
        return tuple(line for line in (_line(item) for item in items) if line is not None)
    product_id = _text(data.get("productId"))
    if product_id is None:
        return ()
    units = _whole(data.get("quantity"))
    if units is None:
        units = _whole(data.get("delta"))
    return ((product_id, units or 0),)


def _line(item: object) -> ProductLine | None:
    if not isinstance(item, Mapping):
        return None
    product_id, units = _text(item.get("productId")), _whole(item.get("quantity"))
    return None if product_id is None or units is None else (product_id, units)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def first_of_each(facts: Iterable[Fact]) -> list[Fact]:
    """The facts with each event id once (a batch may carry one event twice: a replayed publish)."""
    seen: dict[str, Fact] = {}
    for fact in facts:
        seen.setdefault(fact.event_id, fact)
    return list(seen.values())


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None while there is no whole to speak of."""
    return part / whole if whole > 0 else None


# -- what a report says about one product ----------------------------------------------------------

@dataclass(frozen=True)
class Units:
    """Units of a product, summed over the inventory's facts."""

    received: int = 0
    adjusted: int = 0
    held: int = 0
    sold: int = 0
    released: int = 0
    expired: int = 0
    revoked: int = 0


@dataclass(frozen=True)
class Orders:
    created: int = 0
    paid: int = 0
    completed: int = 0
    cancelled_by_reason: Mapping[str, int] = field(default_factory=dict)

    @property
    def cancelled(self) -> int:
        return sum(self.cancelled_by_reason.values())


@dataclass(frozen=True)
class Money:
    captured_cents: int = 0
    refunded_cents: int = 0
    voided_cents: int = 0


@dataclass(frozen=True)
class Point:
    """One bucket of a product's sale: what happened in it, and the running totals at its end."""

    bucket_start_ms: int
    received: int
    held: int
    sold: int
    sold_so_far: int
    received_so_far: int

    @property
    def sell_through(self) -> float | None:
        return ratio(self.sold_so_far, self.received_so_far)


@dataclass(frozen=True)
class ProductSales:
    product_id: str
    units: Units = field(default_factory=Units)
    orders: Orders = field(default_factory=Orders)
    money: Money = field(default_factory=Money)
    series: tuple[Point, ...] = ()

    @property
    def conversion(self) -> float | None:
        """Hold to purchase: of the units held, the share that was sold."""
        return ratio(self.units.sold, self.units.held)

    @property
    def sell_through(self) -> float | None:
        return ratio(self.units.sold, self.units.received)
