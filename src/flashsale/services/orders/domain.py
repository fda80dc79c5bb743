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
from collections.abc import Iterable
from dataclasses import dataclass

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


def amount_cents(lines: Iterable[Line], unit_price_cents: int) -> int:
    """The order's price. There is no catalog yet: every unit costs the configured unit price."""
    return sum(line.quantity for line in lines) * unit_price_cents


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
