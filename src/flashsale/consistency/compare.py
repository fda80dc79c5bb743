"""What counts as agreement between a copy and its source, and when a disagreement is drift.

Models compared (each copy with the service that owns the truth):
- `catalog_availability`: the catalog's availability of a product vs the inventory's stock;
- `order_reservations`: an order's status vs its reservation's status at the inventory (the same
  pairs `sale/audit.py` requires of a quiet house, with PAID accepted while the hold is HELD:
  the payment is being turned into a deduction);
- `order_contacts`: the order service's copy of a customer's contact vs the customer's profile.

A copy fed by events lags its source for a moment, so one look that disagrees proves nothing. A
disagreement is looked at again after a grace period: agreeing then, or with the copy changed in
between (it is catching up), it was lag; the same copy still disagreeing is drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Row = dict[str, Any]

AVAILABILITY = "catalog_availability"
ORDER_RESERVATIONS = "order_reservations"
ORDER_CONTACTS = "order_contacts"
MODELS = (AVAILABILITY, ORDER_RESERVATIONS, ORDER_CONTACTS)

# An order's status, and the reservation states that agree with it.
ORDER_AGREES_WITH: dict[str, frozenset[str | None]] = {
    "PENDING_PAYMENT": frozenset({"HELD"}),
    "PAID": frozenset({"HELD"}),
    "COMPLETED": frozenset({"CONFIRMED"}),
    "CANCELLED": frozenset({"RELEASED", "EXPIRED", "REVOKED", None}),
}


@dataclass(frozen=True)
class Look:
    """One comparison of an entity's copy with its source. `copy_state` is what the copy showed,
    to tell a copy that moved between two looks (catching up) from one that is stuck."""

    key: str
    source: str
    copy: str
    matches: bool
    copy_state: tuple[Any, ...]


class Outcome(Enum):
    MATCH = "match"
    LAG = "lag"
    DRIFT = "drift"


def judge(first: Look, again: Look | None) -> Outcome:
    """The verdict on an entity from its first look and, if that disagreed, the look after the
    grace period (None: the entity could not be looked at again, e.g. it is gone)."""
    if first.matches:
        return Outcome.MATCH
    if again is None or again.matches or again.copy_state != first.copy_state:
        return Outcome.LAG
    return Outcome.DRIFT


def availability_look(product_id: str, stock: Row, product: Row) -> Look:
    """Inventory stock `{available, ...}` vs the catalog's product `{availability: {...}}`."""
    shown = product.get("availability") or {}
    available = shown.get("available")
    return Look(product_id, f"available={stock['available']}", f"available={available} ({shown.get('status')})",
                available == stock["available"], (available, shown.get("asOf")))


def order_look(order: Row, reservation: Row | None) -> Look:
    """An order (the copy of its hold's fate) vs its reservation at the inventory."""
    status = str(order["status"])
    held = None if reservation is None else reservation.get("status")
    agrees = held in ORDER_AGREES_WITH.get(status, frozenset())
    return Look(str(order["orderId"]), f"reservation {held or 'none'}", f"order {status}", agrees, (status,))


def contact_look(customer: Row, contact: Row | None) -> Look:
    """A customer's profile vs the order service's copy of its contact (None: no copy)."""
    wanted = (customer["name"], customer["email"], customer["version"])
    copied = None if contact is None else (contact["name"], contact["email"], contact["version"])
    return Look(str(customer["customerId"]), f"v{customer['version']} {customer['email']}",
                "no copy" if contact is None else f"v{contact['version']} {contact['email']}",
                copied == wanted, (copied,))


@dataclass
class ModelResult:
    """One model's round: entities compared, how many only lagged, the drift found."""

    model: str
    sampled: int = 0
    lagging: int = 0
    drifted: list[Look] = field(default_factory=list)
    note: str | None = None  # why the model was not (fully) compared
    unreachable: bool = False  # not compared because a service did not answer (worth retrying soon)

    @property
    def compared(self) -> bool:
        return self.note is None

    @property
    def match_ratio(self) -> float | None:
        """Share of sampled entities that agree (lag is not drift); None when nothing was sampled."""
        if not self.sampled:
            return None
        return (self.sampled - len(self.drifted)) / self.sampled

    def add(self, first: Look, again: Look | None) -> None:
        self.sampled += 1
        outcome = judge(first, again)
        if outcome is Outcome.LAG:
            self.lagging += 1
        elif outcome is Outcome.DRIFT:
            self.drifted.append(again or first)

    def to_json(self, examples: int = 10) -> dict[str, Any]:
        return {
            "model": self.model, "sampled": self.sampled, "matched": self.sampled - len(self.drifted),
            "lagging": self.lagging, "mismatched": len(self.drifted), "matchRatio": self.match_ratio,
            "note": self.note, "unreachable": self.unreachable,
            "mismatches": [{"key": d.key, "source": d.source, "copy": d.copy} for d in self.drifted[:examples]],
        }
