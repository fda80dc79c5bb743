"""Events that cross service boundaries: past-tense facts, owned by the service that emits them.

Each payload is versioned by its type name; a breaking change gets a new type (`...V2`).
Consumers validate `data` with these models, so a malformed event fails loudly (and, after the
bounded redeliveries, lands in the dead-letter stream) instead of corrupting state.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class EventData(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_data(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json")


class Line(EventData):
    product_id: str
    quantity: int


# -- inventory (stream INVENTORY, subjects inventory.<Type>) -------------------------------------

class StockReceived(EventData):
    product_id: str
    quantity: int
    available: int


class StockAdjusted(EventData):
    product_id: str
    delta: int
    reason: str
    available: int


class StockReserved(EventData):
    reservation_id: str
    order_id: str | None
    items: list[Line]
    expires_at: str


class ReservationReleased(EventData):
    reservation_id: str
    order_id: str | None
    items: list[Line]
    reason: str


class ReservationExpired(EventData):
    reservation_id: str
    order_id: str | None
    items: list[Line]


class ReservationConfirmed(EventData):
    """The hold became a permanent deduction (stock sold)."""

    reservation_id: str
    order_id: str
    items: list[Line]
    confirmed_at: str


class ReservationRevoked(EventData):
    """Units the warehouse lost were taken back from a hold (`stage` HELD) or from a sale that
    was already deducted (`stage` CONFIRMED), newest first (see the inventory's write-off policy).
    The order side cancels the order, refunds what was paid and apologises to the customer."""

    reservation_id: str
    order_id: str | None
    customer_id: str | None = None
    items: list[Line]
    stage: str
    reason: str


class ReservationRejected(EventData):
    """An order was confirmed but its stock could not be deducted (e.g. the hold had expired
    and the units were sold to someone else). The order side refunds and apologises."""

    reservation_id: str
    order_id: str
    reason: str


# -- orders (stream ORDERS) ----------------------------------------------------------------------

class OrderCreated(EventData):
    order_id: str
    customer_id: str
    reservation_id: str
    items: list[Line]


class OrderConfirmed(EventData):
    """Paid: the inventory turns the hold into a deduction."""

    order_id: str
    reservation_id: str
    customer_id: str | None = None


class OrderCancelled(EventData):
    """`refunded`: money the customer had paid was given back (an apology, when the reason is
    `stock_unavailable` or `shipment_failed`)."""

    order_id: str
    reservation_id: str | None
    reason: str
    customer_id: str | None = None
    refunded: bool = False


class OrderCompleted(EventData):
    order_id: str
    reservation_id: str
    customer_id: str | None = None


# -- shipping (stream SHIPPING) ------------------------------------------------------------------

class ShipmentScheduled(EventData):
    shipment_id: str
    order_id: str
    items: list[Line]


class ShipmentCancelled(EventData):
    shipment_id: str
    order_id: str
    reason: str


# -- payments (stream PAYMENTS) ------------------------------------------------------------------

class PaymentAuthorised(EventData):
    """The provider holds the amount on the customer's card; nothing is taken yet."""

    payment_id: str
    order_id: str
    amount_cents: int


class PaymentCaptured(EventData):
    """The authorised amount is taken: the money is ours until refunded."""

    payment_id: str
    order_id: str
    amount_cents: int


class PaymentVoided(EventData):
    """An authorisation released without capture: the customer was never charged."""

    payment_id: str
    order_id: str
    amount_cents: int


class PaymentDeclined(EventData):
    payment_id: str
    order_id: str
    reason: str


class PaymentRefunded(EventData):
    payment_id: str
    order_id: str
    amount_cents: int
