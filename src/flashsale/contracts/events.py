"""Events that cross service boundaries: past-tense facts, owned by the service that emits them.

Each payload is versioned by its type name; a breaking change gets a new type (`...V2`).
Consumers validate `data` with these models, so a malformed event fails loudly (and, after the
bounded redeliveries, lands in the dead-letter stream) instead of corrupting state.
Their producers, subjects and JSON schemas are published in docs/contract.md#events (`make docs`).
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


# -- catalog (stream CATALOG) --------------------------------------------------------------------

class ProductUpdated(EventData):
    """A product was created or changed: its whole description as of `version` (1 on creation,
    one more per change), so a consumer keeps a copy by taking the highest version it has seen.
    Times are RFC 3339 UTC; a sale window end may be open (null)."""

    product_id: str
    version: int
    name: str
    price_cents: int
    description: str
    image_url: str | None
    sale_starts_at: str | None
    sale_ends_at: str | None


# -- customers (stream CUSTOMERS) ----------------------------------------------------------------

class PostalAddress(EventData):
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


class CustomerUpdated(EventData):
    """The customer's whole profile as of `version` (1 is its creation, each change adds one).

    Copies keep the highest version they have seen and ignore anything older or equal, so
    duplicates and out-of-order deliveries leave the newest profile."""

    customer_id: str
    version: int
    name: str
    email: str
    address: PostalAddress
