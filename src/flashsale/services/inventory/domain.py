"""The rules of stock and holds, free of I/O.

A product's stock is split three ways: `available` (can be held now), `reserved` (held by active
holds) and `sold` (permanently deducted). Units enter by `received` and leave by `written_off`;
every move below keeps all three counts >= 0 and

    available + reserved + sold == received - written_off

The store's SQL performs the same moves as conditional UPDATEs, and the schema's CHECK
constraints refuse any row that breaks them, so the rules are enforced twice: here, where the
unit tests drive them, and in the database, where concurrency cannot sneak past them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from flashsale.services.inventory.errors import (
    AlreadyConfirmed,
    InsufficientAvailable,
    InvalidQuantity,
    OutOfStock,
    UnknownProduct,
)


class ReservationStatus(StrEnum):
    HELD = "HELD"
    CONFIRMED = "CONFIRMED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True, order=True)
class Line:
    """One product and how many of its units a hold covers."""

    product_id: str
    quantity: int


def in_lock_order(lines: Iterable[Line]) -> list[Line]:
    """Lines sorted by product id: every transaction locks stock rows in this one order, so two
    multi-item holds can never wait on each other in a cycle (no deadlocks)."""
    return sorted(lines)


def _positive(quantity: int) -> int:
    if quantity <= 0:
        raise InvalidQuantity(f"quantity must be positive, got {quantity}")
    return quantity


@dataclass(frozen=True)
class StockLevel:
    """One product's stock. Every move returns a new level or raises; nothing is changed in place."""

    available: int = 0
    reserved: int = 0
    sold: int = 0
    received: int = 0
    written_off: int = 0

    @property
    def on_hand(self) -> int:
        return self.received - self.written_off

    def is_consistent(self) -> bool:
        counts_ok = min(self.available, self.reserved, self.sold) >= 0
        return counts_ok and self.available + self.reserved + self.sold == self.on_hand

    def receive(self, quantity: int) -> StockLevel:
        q = _positive(quantity)
        return replace(self, available=self.available + q, received=self.received + q)

    def hold(self, quantity: int, product_id: str = "") -> StockLevel:
        """available -> reserved; only units that are available can be held."""
        q = _positive(quantity)
        if q > self.available:
            raise OutOfStock(product_id, q, self.available)
        return replace(self, available=self.available - q, reserved=self.reserved + q)

    def release(self, quantity: int) -> StockLevel:
        """reserved -> available: a hold ended without a sale (released or expired)."""
        q = _positive(quantity)
        if q > self.reserved:
            raise InvalidQuantity(f"cannot release {q}: only {self.reserved} reserved")
        return replace(self, available=self.available + q, reserved=self.reserved - q)

    def confirm(self, quantity: int) -> StockLevel:
        """reserved -> sold: the held units become a permanent deduction."""
        q = _positive(quantity)
        if q > self.reserved:
            raise InvalidQuantity(f"cannot confirm {q}: only {self.reserved} reserved")
        return replace(self, reserved=self.reserved - q, sold=self.sold + q)

    def retake(self, quantity: int, product_id: str = "") -> StockLevel:
        """available -> sold: an order was paid after its hold had ended; sell if still there."""
        q = _positive(quantity)
        if q > self.available:
            raise OutOfStock(product_id, q, self.available)
        return replace(self, available=self.available - q, sold=self.sold + q)

    def return_sold(self, quantity: int) -> StockLevel:
        """sold -> available: a paid order was cancelled after the deduction."""
        q = _positive(quantity)
        if q > self.sold:
            raise InvalidQuantity(f"cannot return {q}: only {self.sold} sold")
        return replace(self, available=self.available + q, sold=self.sold - q)

    def write_off(self, quantity: int, product_id: str = "") -> StockLevel:
        """Units lost or damaged; only available ones (held and sold units belong to buyers)."""
        q = _positive(quantity)
        if q > self.available:
            raise InsufficientAvailable(product_id, q)
        return replace(self, available=self.available - q, written_off=self.written_off + q)

    def adjust(self, delta: int, product_id: str = "") -> StockLevel:
        """A correction: positive receives, negative writes off."""
        if delta > 0:
            return self.receive(delta)
        return self.write_off(-delta, product_id)


def hold_all(levels: Mapping[str, StockLevel], lines: Iterable[Line]) -> dict[str, StockLevel]:
    """Hold every line or none: the new levels of the products touched, or the first refusal."""
    changed: dict[str, StockLevel] = {}
    for line in in_lock_order(lines):
        level = changed.get(line.product_id, levels.get(line.product_id))
        if level is None:
            raise UnknownProduct(line.product_id)
        changed[line.product_id] = level.hold(line.quantity, line.product_id)
    return changed


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    status: ReservationStatus
    lines: tuple[Line, ...]
    expires_at_ms: int
    order_id: str | None = None
    customer_id: str | None = None
    confirmed_at_ms: int | None = None

    def same_lines(self, lines: Iterable[Line]) -> bool:
        return in_lock_order(self.lines) == in_lock_order(lines)


def expires_at_ms(now_ms: int, ttl_s: int) -> int:
    return now_ms + ttl_s * 1000


def is_due(reservation: Reservation, now_ms: int) -> bool:
    """A hold expires once its time is up (an expired hold frees its units for others)."""
    return reservation.status is ReservationStatus.HELD and reservation.expires_at_ms <= now_ms


def may_release(status: ReservationStatus, reservation_id: str) -> bool:
    """Whether a release request frees units: only a held reservation does. An ended one is
    already free (releasing it again is a harmless repeat); a confirmed one is sold."""
    if status is ReservationStatus.CONFIRMED:
        raise AlreadyConfirmed(reservation_id)
    return status is ReservationStatus.HELD


class OnOrderConfirmed(Enum):
    DEDUCT_HOLD = "deduct_hold"  # reserved -> sold
    RETAKE = "retake"  # the hold ended first: sell from available if the units are still there
    NOTHING = "nothing"  # already confirmed: a repeat


def on_order_confirmed(status: ReservationStatus) -> OnOrderConfirmed:
    if status is ReservationStatus.HELD:
        return OnOrderConfirmed.DEDUCT_HOLD
    if status is ReservationStatus.CONFIRMED:
        return OnOrderConfirmed.NOTHING
    return OnOrderConfirmed.RETAKE


class OnOrderCancelled(Enum):
    RELEASE_HOLD = "release_hold"  # reserved -> available
    RETURN_SOLD = "return_sold"  # sold -> available: the order was cancelled after payment
    NOTHING = "nothing"  # the hold had already ended


def on_order_cancelled(status: ReservationStatus) -> OnOrderCancelled:
    if status is ReservationStatus.HELD:
        return OnOrderCancelled.RELEASE_HOLD
    if status is ReservationStatus.CONFIRMED:
        return OnOrderCancelled.RETURN_SOLD
    return OnOrderCancelled.NOTHING
