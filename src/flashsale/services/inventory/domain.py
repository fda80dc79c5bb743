"""The rules of stock and holds, free of I/O.

A product's stock is split three ways: `available` (can be held now), `reserved` (held by active
holds) and `sold` (permanently deducted). Units enter by `received` and leave by `written_off`;
every move below keeps all three counts >= 0 and

    available + reserved + sold == received - written_off

The store's SQL performs the same moves as conditional UPDATEs, and the schema's CHECK
constraints refuse any row that breaks them, so the rules are enforced twice: here, where the
unit tests drive them, and in the database, where concurrency cannot sneak past them.

Purchase limits. A product may carry a limit per customer (a flash-sale rule): the units a
customer holds or has bought (HELD + CONFIRMED reservations) plus those asked for may not exceed
it. While a product has a limit, every customer's units of it are kept in a counter that moves
with each hold, release, expiry, cancellation, revocation and late sale (the retake of an order
paid after its hold ended), in the same transaction as the stock it counts. A hold, or a retake,
of such a product needs a customer to count against. A limit set later counts what customers
already have; one lowered below that refuses their further holds but takes nothing back.

Partial fulfilment. A reserve asks for "all" (every line in full, or nothing) or "partial": each
line gets min(asked, available, the customer's limit remainder), lines that get nothing are left
out, and only when nothing at all can be held is the reserve refused (`grant_partial`): as over
the limit when the limit stopped a line whose units were there, else as out of stock.

Write-off policy (an apology). The warehouse may lose units that are already held or even sold.
A write-off of q units of a product with fewer than q available revokes whole reservations of
that product until at least q are available: holds first, newest created first, then
deductions, newest confirmed first. A revoked reservation is cancelled as a whole: every unit of
every product in it goes back to available (held units from reserved, sold ones from sold), the
customer's purchase-limit counters give them back, it becomes REVOKED and a ReservationRevoked
event tells the order side, which cancels the order, refunds what was paid and apologises.
Then the q units are written off from available. A write-off of more than is on hand
(available + reserved + sold) is refused and changes nothing. All of it is one transaction, so
the counts above hold at every instant. A revoked reservation is final: a later release,
OrderConfirmed or OrderCancelled for it changes nothing (no double credit).

The order side's events in any order. An order is confirmed (paid) before it is cancelled, never
after; but a confirmation whose handling failed is delivered again after later events about the
same order, so the rules do not rely on the order of delivery. A cancellation is remembered on the
reservation whatever its status, and a confirmation that finds its order cancelled is refused (the
order side refunds), never sold from available (`on_order_confirmed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from flashsale.services.inventory.errors import (
    AlreadyConfirmed,
    CustomerRequired,
    InsufficientStock,
    InvalidQuantity,
    LimitExceeded,
    OutOfStock,
    UnknownProduct,
)


class ReservationStatus(StrEnum):
    HELD = "HELD"
    CONFIRMED = "CONFIRMED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"  # cancelled by a write-off (see the write-off policy above)


class Fulfilment(StrEnum):
    ALL = "all"  # every line in full, or nothing
    PARTIAL = "partial"  # as much of each line as can be had now


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
        """Units lost or damaged leave from available; held and sold units belong to buyers, so
        a write-off that needs them revokes reservations first (`plan_write_off`)."""
        q = _positive(quantity)
        if q > self.on_hand:
            raise InsufficientStock(product_id, q, self.on_hand)
        if q > self.available:
            raise InvalidQuantity(f"cannot write off {q}: only {self.available} available; revoke first")
        return replace(self, available=self.available - q, written_off=self.written_off + q)

    def revoke(self, quantity: int, stage: ReservationStatus) -> StockLevel:
        """A revoked reservation's units come back to available, from reserved or from sold."""
        if stage is ReservationStatus.HELD:
            return self.release(quantity)
        if stage is ReservationStatus.CONFIRMED:
            return self.return_sold(quantity)
        raise InvalidQuantity(f"a {stage} reservation holds no units to revoke")


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
    lines: tuple[Line, ...]  # what is held (for a partial reserve: what was granted)
    expires_at_ms: int
    order_id: str | None = None
    customer_id: str | None = None
    confirmed_at_ms: int | None = None
    created_at_ms: int = 0
    requested: tuple[Line, ...] | None = None  # what a partial reserve asked for; None: `lines`
    # When the order side said its order was cancelled (None: it has not). Kept whatever the hold's
    # status was then, so a confirmation delivered after the cancellation is refused (see below).
    order_cancelled_at_ms: int | None = None

    @property
    def asked(self) -> tuple[Line, ...]:
        """The lines the reserve asked for (a partial grant may hold fewer)."""
        return self.lines if self.requested is None else self.requested

    @property
    def fulfilment(self) -> Fulfilment:
        return Fulfilment.ALL if self.requested is None else Fulfilment.PARTIAL

    def same_lines(self, lines: Iterable[Line]) -> bool:
        return in_lock_order(self.lines) == in_lock_order(lines)

    def answers(self, lines: Iterable[Line], fulfilment: Fulfilment) -> bool:
        """Whether this hold is the answer to a reserve of `lines` (a retry for the same order):
        it was asked for the same lines, and, unless partial is acceptable, holds them in full."""
        wanted = in_lock_order(lines)
        return in_lock_order(self.asked) == wanted and (fulfilment is Fulfilment.PARTIAL or self.same_lines(wanted))

    def quantity_of(self, product_id: str) -> int:
        return sum(line.quantity for line in self.lines if line.product_id == product_id)

    def confirmed_for(self, order_id: str, now_ms: int) -> Reservation:
        """This reservation sold to the paid order `order_id` (a hold taken without one is claimed by it)."""
        return replace(self, status=ReservationStatus.CONFIRMED, order_id=order_id, confirmed_at_ms=now_ms)


def expires_at_ms(now_ms: int, ttl_s: int) -> int:
    return now_ms + ttl_s * 1000


def is_due(reservation: Reservation, now_ms: int) -> bool:
    """A hold expires once its time is up (an expired hold frees its units for others)."""
    return reservation.status is ReservationStatus.HELD and reservation.expires_at_ms <= now_ms


def may_release(status: ReservationStatus, reservation_id: str) -> bool:
    """Whether a release request frees units: only a held reservation does. An ended one
    (released, expired, revoked) is already free: releasing it again is a harmless repeat; a
    confirmed one is sold."""
    if status is ReservationStatus.CONFIRMED:
        raise AlreadyConfirmed(reservation_id)
    return status is ReservationStatus.HELD


class OnOrderConfirmed(Enum):
    DEDUCT_HOLD = "deduct_hold"  # reserved -> sold
    RETAKE = "retake"  # the hold ended first: sell from available if the units are still there
    REFUSE = "refuse"  # the order was cancelled: a confirmation delivered late sells nothing
    NOTHING = "nothing"  # already confirmed (a repeat), or revoked (the order side is cancelling)


def on_order_confirmed(status: ReservationStatus, order_cancelled: bool = False) -> OnOrderConfirmed:
    """What a paid order's confirmation does to its reservation, in whatever order the events come.

    An order is confirmed before it is cancelled, never after, but a confirmation that failed once
    is delivered again after later events about the same order. So a confirmation that finds the
    order already cancelled is refused (the order side refunds), never sold from available: a
    released hold remembers that its order's cancellation released it (`order_cancelled_at_ms`)."""
    if status in (ReservationStatus.CONFIRMED, ReservationStatus.REVOKED):
        return OnOrderConfirmed.NOTHING
    if order_cancelled:
        return OnOrderConfirmed.REFUSE
    if status is ReservationStatus.HELD:
        return OnOrderConfirmed.DEDUCT_HOLD
    return OnOrderConfirmed.RETAKE


class OnOrderCancelled(Enum):
    RELEASE_HOLD = "release_hold"  # reserved -> available
    RETURN_SOLD = "return_sold"  # sold -> available: the order was cancelled after payment
    NOTHING = "nothing"  # the hold had already ended (revoked included: its units are back); the
                         # cancellation is still remembered, for a confirmation delivered after it


def on_order_cancelled(status: ReservationStatus) -> OnOrderCancelled:
    if status is ReservationStatus.HELD:
        return OnOrderCancelled.RELEASE_HOLD
    if status is ReservationStatus.CONFIRMED:
        return OnOrderCancelled.RETURN_SOLD
    return OnOrderCancelled.NOTHING


# -- purchase limits ------------------------------------------------------------------------------


def limit_remainder(per_customer: int | None, units: int) -> int | None:
    """How many more units a customer may hold or buy; None: no limit. A limit lowered below
    what a customer already has leaves nothing (never a negative remainder)."""
    return None if per_customer is None else max(0, per_customer - units)


def require_customer(customer_id: str | None, limited: Iterable[str]) -> None:
    """A product with a purchase limit can only be held for a named customer."""
    first = min(limited, default=None)
    if first is not None and customer_id is None:
        raise CustomerRequired(first)


def check_limit(product_id: str, per_customer: int | None, units: int, quantity: int) -> None:
    """Refuse a hold that would take the customer past the product's limit."""
    remainder = limit_remainder(per_customer, units)
    if remainder is not None and quantity > remainder:
        assert per_customer is not None
        raise LimitExceeded(product_id, per_customer, quantity)


def grant_partial(
    wanted: Sequence[Line], available: Mapping[str, int], limits: Mapping[str, int], units: Mapping[str, int]
) -> list[Line]:
    """A partial reserve's grant: each line gets min(asked, available, limit remainder), where
    `limits` are the purchase limits of the products that have one and `units` what the customer
    already holds or bought of them; lines that get nothing are left out. Nothing at all is
    refused: `LimitExceeded` when the limit stopped a line whose units were there, else `OutOfStock`."""
    granted: list[Line] = []
    stopped_by_limit: Line | None = None
    for line in in_lock_order(wanted):
        product = line.product_id
        if product not in available:
            raise UnknownProduct(product)
        remainder = limit_remainder(limits.get(product), units.get(product, 0))
        cap = available[product] if remainder is None else min(available[product], remainder)
        if min(line.quantity, cap) > 0:
            granted.append(Line(product, min(line.quantity, cap)))
        elif available[product] > 0 and stopped_by_limit is None:
            stopped_by_limit = line
    if granted:
        return granted
    if stopped_by_limit is not None:
        raise LimitExceeded(stopped_by_limit.product_id, limits[stopped_by_limit.product_id], stopped_by_limit.quantity)
    first = in_lock_order(wanted)[0]
    raise OutOfStock(first.product_id, first.quantity, available[first.product_id])



def grant_in_turn(available: int, asked: Sequence[tuple[int, Fulfilment]]) -> list[int]:
    """Holds of one product taken together (a coalesced batch), granted as if each had come alone
    in this order: a hold gets its quantity while that many are left ("partial": as many as are
    left, if any), else 0 (refused), and later, smaller holds may still fit. So a batch decides
    exactly what the same holds one after the other would have."""
    granted: list[int] = []
    for quantity, fulfilment in asked:
        take = quantity if quantity <= available else (available if fulfilment is Fulfilment.PARTIAL else 0)
        granted.append(take)
        available -= take
    return granted

# -- write-offs beyond available (the apology) ----------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """A reservation that holds or bought units of the product being written off."""

    reservation_id: str
    status: ReservationStatus  # HELD or CONFIRMED
    quantity: int  # its units of that product
    created_at_ms: int
    confirmed_at_ms: int | None = None


def revocation_order(holders: Iterable[Holder]) -> list[Holder]:
    """Holds before deductions (nothing was paid for a hold yet); the newest of each first, so
    the customers who waited longest keep their units. Ties by id, so the order is total."""
    held = [h for h in holders if h.status is ReservationStatus.HELD]
    sold = [h for h in holders if h.status is ReservationStatus.CONFIRMED]
    held.sort(key=lambda h: (h.created_at_ms, h.reservation_id), reverse=True)
    sold.sort(key=lambda h: (h.confirmed_at_ms or 0, h.reservation_id), reverse=True)
    return held + sold


def plan_write_off(level: StockLevel, quantity: int, holders: Iterable[Holder], product_id: str = "") -> list[Holder]:
    """The reservations to revoke, in order, before `quantity` units can be written off from
    available; none when enough are available. Refused when more than is on hand."""
    q = _positive(quantity)
    if q > level.on_hand:
        raise InsufficientStock(product_id, q, level.on_hand)
    freed = level.available
    revoked: list[Holder] = []
    for holder in revocation_order(holders):
        if freed >= q:
            break
        revoked.append(holder)
        freed += holder.quantity
    if freed < q:
        raise InvalidQuantity(f"the holders of {product_id!r} hold fewer units than reserved + sold")
    return revoked
