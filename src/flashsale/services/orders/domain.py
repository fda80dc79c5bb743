"""Order rules: the order state machine and what each request or event does to an order.

    PENDING_PAYMENT ──pay──▶ PAID ──stock deducted, captured, shipped──▶ COMPLETED
          │                   │                                          │
          └──────────────▶ CANCELLED ◀───────────────────────────────────┘ (units lost after the sale)

Every decision here is a pure function of the order's state (and the time); the checkout saga
(saga_plan.py, saga.py) carries the order through these moves with conditional updates, so two
instances acting on one order cannot both win.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

PENDING_PAYMENT = "PENDING_PAYMENT"
PAID = "PAID"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
STATUSES = (PENDING_PAYMENT, PAID, COMPLETED, CANCELLED)

PAYMENT_DECLINED = "payment_declined"
HOLD_EXPIRED = "hold_expired"
CUSTOMER_CANCELLED = "customer_cancelled"
STOCK_UNAVAILABLE = "stock_unavailable"
SHIPMENT_FAILED = "shipment_failed"
CANCEL_REASONS = (PAYMENT_DECLINED, HOLD_EXPIRED, CUSTOMER_CANCELLED, STOCK_UNAVAILABLE, SHIPMENT_FAILED)

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING_PAYMENT: frozenset({PAID, CANCELLED}),
    PAID: frozenset({COMPLETED, CANCELLED}),
    # A completed order is cancelled only as an apology: the warehouse lost its units after the
    # sale (the inventory revoked the deduction), so it is refunded and cancelled.
    COMPLETED: frozenset({CANCELLED}),
    CANCELLED: frozenset(),
}


class InvalidTransition(ValueError):
    pass


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def move(current: str, target: str) -> str:
    """The next status, or InvalidTransition: the one place that says which moves exist."""
    if not can_move(current, target):
        raise InvalidTransition(f"an order cannot go from {current} to {target}")
    return target


def sources_of(target: str) -> tuple[str, ...]:
    """The statuses an order may be in to move to `target` (the guard of a conditional update)."""
    return tuple(status for status in STATUSES if can_move(status, target))


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    # The snapshot taken when the order was placed: what the product was called and what one unit
    # cost then. Later catalog changes never rewrite it (None: a line recorded without one).
    name: str | None = None
    unit_price_cents: int | None = None


def amount_cents(lines: Iterable[Line], unit_price_cents: int) -> int:
    """The price of `lines` when every unit costs `unit_price_cents` (no catalog configured)."""
    return sum(line.quantity for line in lines) * unit_price_cents


# -- price and name snapshots ---------------------------------------------------------------------

@dataclass(frozen=True)
class Listing:
    """A product as the catalog lists it; the sale window's ends are epoch ms, None when open."""

    product_id: str
    name: str
    price_cents: int
    sale_starts_ms: int | None = None
    sale_ends_ms: int | None = None


class Offer(enum.Enum):
    """Whether a product may be ordered now; the value is the refusal's problem code."""

    OPEN = "open"
    UNLISTED = "unknown_product"
    NOT_OPEN = "sale_not_open"
    CLOSED = "sale_closed"


def offer(listing: Listing | None, now_ms: int) -> Offer:
    """Listed, and inside its sale window: the start is the first instant of the sale, the end the
    first instant after it; an open end never stops the sale."""
    if listing is None:
        return Offer.UNLISTED
    if listing.sale_starts_ms is not None and now_ms < listing.sale_starts_ms:
        return Offer.NOT_OPEN
    if listing.sale_ends_ms is not None and now_ms >= listing.sale_ends_ms:
        return Offer.CLOSED
    return Offer.OPEN


def first_refusal(
    product_ids: Iterable[str], listings: Mapping[str, Listing], now_ms: int
) -> tuple[str, Offer] | None:
    """The first product (in the order asked) that cannot be ordered now, and why; None: all can.
    Unlisted products are named before closed windows: an unknown product is the caller's error."""
    offers = [(product_id, offer(listings.get(product_id), now_ms)) for product_id in product_ids]
    for wanted in (Offer.UNLISTED, Offer.NOT_OPEN, Offer.CLOSED):
        for product_id, found in offers:
            if found is wanted:
                return product_id, found
    return None


@dataclass(frozen=True)
class Snapshot:
    """What an order line keeps of its product: its name (None without a catalog) and unit price."""

    name: str | None
    unit_price_cents: int


def snapshot(listing: Listing) -> Snapshot:
    return Snapshot(listing.name, listing.price_cents)


def priced(lines: Iterable[Line], snapshots: Mapping[str, Snapshot]) -> tuple[Line, ...]:
    """The lines with their product's snapshot (each line's product must have one)."""
    return tuple(
        replace(line, name=snapshots[line.product_id].name,
                unit_price_cents=snapshots[line.product_id].unit_price_cents)
        for line in lines
    )


def total_cents(lines: Iterable[Line]) -> int:
    """What the order costs: each line's units at its snapshot price. With partial fulfilment the
    lines are what was granted, so only that is charged."""
    total = 0
    for line in lines:
        if line.unit_price_cents is None:
            raise ValueError(f"line {line.product_id} has no snapshot price")
        total += line.quantity * line.unit_price_cents
    return total


# -- the copy of customers' contacts --------------------------------------------------------------

@dataclass(frozen=True)
class Contact:
    """What the order service keeps of a customer (a copy; the customers service owns it)."""

    customer_id: str
    name: str
    email: str
    version: int


def supersedes(incoming_version: int, stored_version: int | None) -> bool:
    """An event's profile replaces the copy only when it is newer: a duplicate or a late older
    event leaves the newest version in place."""
    return stored_version is None or incoming_version > stored_version


class Repair(enum.Enum):
    NONE = "none"            # the copy matches its source
    ADVANCE = "advance"      # missing or older than the source: write the source's (newer-only)
    OVERWRITE = "overwrite"  # same or newer version yet different: a corrupt copy, replace it


def repair(copy: Contact | None, source: Contact) -> Repair:
    """What reconciliation does with a copy, given its source's current profile."""
    if copy == source:
        return Repair.NONE
    if copy is None or supersedes(source.version, copy.version):
        return Repair.ADVANCE
    return Repair.OVERWRITE


# -- requests -------------------------------------------------------------------------------------

class Pay(enum.Enum):
    CHARGE = "charge"              # ask the payment service
    ALREADY_PAID = "already_paid"  # a repeated pay: payments are per order, answer the order as it is
    HOLD_EXPIRED = "hold_expired"  # the stock is no longer held for this order
    INVALID_STATE = "invalid_state"


def pay(status: str, status_reason: str | None, expires_at_ms: int | None, now_ms: int) -> Pay:
    if status == PENDING_PAYMENT:
        if expires_at_ms is not None and expires_at_ms <= now_ms:
            return Pay.HOLD_EXPIRED
        return Pay.CHARGE
    if status in (PAID, COMPLETED):
        return Pay.ALREADY_PAID
    if status == CANCELLED and status_reason == HOLD_EXPIRED:
        return Pay.HOLD_EXPIRED
    return Pay.INVALID_STATE


class Cancel(enum.Enum):
    RELEASE = "release"  # nothing was paid: cancel, the hold goes back
    REFUND = "refund"    # paid: refund first, then cancel
    INVALID_STATE = "invalid_state"


def cancel(status: str) -> Cancel:
    if status == PENDING_PAYMENT:
        return Cancel.RELEASE
    if status == PAID:
        return Cancel.REFUND
    return Cancel.INVALID_STATE
