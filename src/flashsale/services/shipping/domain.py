"""Shipping rules: what a schedule or cancel request means, given what is stored for the order.

An order has at most one shipment. It is SCHEDULED once the order's stock is confirmed, and may
become CANCELLED (the checkout saga's compensation); a cancelled shipment is never scheduled
again. Cancelling an order that has no shipment yet stores a CANCELLED tombstone (no lines), so a
schedule call that arrives late — sent before a crash, delivered after the compensation — cannot
bring the shipment back.

A product may be marked unshippable; an order with any such line gets no shipment at all.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass

SCHEDULED = "SCHEDULED"
CANCELLED = "CANCELLED"
STATUSES = (SCHEDULED, CANCELLED)

# Why a shipment is CANCELLED (the view's `reason`, the event's `reason`).
ORDER_CANCELLED = "order_cancelled"
# The tombstone's reason: the cancel came first, nothing had been scheduled.
CANCELLED_BEFORE_SCHEDULING = "cancelled_before_scheduling"


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int


class Schedule(enum.Enum):
    """What to do with a schedule request."""

    CREATE = "create"            # no shipment for the order yet and every product ships
    REPLAY = "replay"            # already scheduled: answer with the stored shipment
    CANCELLED = "cancelled"      # cancelled (or a tombstone): stays cancelled, refuse
    UNSHIPPABLE = "unshippable"  # some product may not be shipped: refuse, create nothing


def schedule(status: str | None, unshippable: Collection[str]) -> Schedule:
    # A repeat of a scheduled order is answered as it was, even if a product was marked
    # unshippable since: the shipment exists, and the saga asking again must get the same answer.
    if status == SCHEDULED:
        return Schedule.REPLAY
    if status == CANCELLED:
        return Schedule.CANCELLED
    if unshippable:
        return Schedule.UNSHIPPABLE
    return Schedule.CREATE


class Cancel(enum.Enum):
    """What to do with a cancel request."""

    CANCEL = "cancel"                        # SCHEDULED -> CANCELLED, announced
    ALREADY_CANCELLED = "already_cancelled"  # answer with the stored shipment
    TOMBSTONE = "tombstone"                  # nothing scheduled yet: store a CANCELLED tombstone


def cancel(status: str | None) -> Cancel:
    if status is None:
        return Cancel.TOMBSTONE
    if status == CANCELLED:
        return Cancel.ALREADY_CANCELLED
    return Cancel.CANCEL


def unshippable_products(lines: Iterable[Line], refused: Collection[str]) -> list[str]:
    """The order's products that may not be shipped, in product order (for a stable message)."""
    return sorted({line.product_id for line in lines if line.product_id in refused})


def repeated_products(lines: Iterable[Line]) -> list[str]:
    """Products named on more than one line: a shipment lists each product once."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for line in lines:
        (repeated if line.product_id in seen else seen).add(line.product_id)
    return sorted(repeated)


def in_product_order(lines: Iterable[Line]) -> tuple[Line, ...]:
    """A shipment's lines in one canonical order, so its first answer and every later read agree."""
    return tuple(sorted(lines, key=lambda line: line.product_id))
