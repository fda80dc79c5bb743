"""Request and response bodies of the public HTTP APIs (CONTRACT.md). camelCase on the wire."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

MAX_QUANTITY = 1000
MAX_RECEIVE = 10**9
MAX_ITEMS = 50
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
MAX_PURCHASE_LIMIT = 1_000_000

# "all": every item in full or nothing (the default); "partial": as much of each item as can be
# had now, refused only when nothing at all can be.
Fulfilment = Literal["all", "partial"]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


class Item(ApiModel):
    product_id: str = Field(pattern=ID_PATTERN)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


def _unique_products(items: list[Item]) -> list[Item]:
    seen = [i.product_id for i in items]
    if len(seen) != len(set(seen)):
        raise ValueError("each productId may appear once")
    return items


class ReceiveStock(ApiModel):
    quantity: int = Field(ge=1, le=MAX_RECEIVE)


class AdjustStock(ApiModel):
    delta: int = Field(ge=-MAX_RECEIVE, le=MAX_RECEIVE)
    reason: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _nonzero(self) -> AdjustStock:
        if self.delta == 0:
            raise ValueError("delta must not be 0")
        return self


class StockView(ApiModel):
    product_id: str
    available: int
    reserved: int
    sold: int
    received: int
    written_off: int


class ReserveStock(ApiModel):
    """Single item (`productId`, `quantity`) or several (`items`), never both."""

    product_id: str | None = Field(default=None, pattern=ID_PATTERN)
    quantity: int | None = Field(default=None, ge=1, le=MAX_QUANTITY)
    items: list[Item] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    order_id: str | None = Field(default=None, pattern=ID_PATTERN)
    customer_id: str | None = Field(default=None, pattern=ID_PATTERN)
    ttl_seconds: int | None = Field(default=None, ge=1, le=86_400)
    fulfilment: Fulfilment = "all"

    @model_validator(mode="after")
    def _one_shape(self) -> ReserveStock:
        single = self.product_id is not None or self.quantity is not None
        if single and self.items is not None:
            raise ValueError("give either productId/quantity or items, not both")
        if self.items is None and (self.product_id is None or self.quantity is None):
            raise ValueError("productId and quantity are required (or items)")
        if self.items is not None:
            _unique_products(self.items)
        return self

    def lines(self) -> list[Item]:
        if self.items is not None:
            return self.items
        assert self.product_id is not None and self.quantity is not None
        return [Item(product_id=self.product_id, quantity=self.quantity)]


class ReservationView(ApiModel):
    reservation_id: str
    status: str
    items: list[Item]
    expires_at: str
    order_id: str | None = None
    confirmed_at: str | None = None


class PurchaseLimit(ApiModel):
    """At most `perCustomer` units of a product per customer, held or bought."""

    per_customer: int = Field(ge=1, le=MAX_PURCHASE_LIMIT)


class PurchaseLimitView(ApiModel):
    product_id: str
    per_customer: int | None


class CreateOrder(ApiModel):
    customer_id: str = Field(pattern=ID_PATTERN)
    items: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)
    fulfilment: Fulfilment = "all"

    @model_validator(mode="after")
    def _unique(self) -> CreateOrder:
        _unique_products(self.items)
        return self


class PayOrder(ApiModel):
    payment_token: str = Field(min_length=1, max_length=100)


class OrderView(ApiModel):
    order_id: str
    customer_id: str
    status: str
    status_reason: str | None
    items: list[Item]
    reservation_id: str | None
    expires_at: str | None
    created_at: str
    updated_at: str
    paid_at: str | None = None


class AuthorisePayment(ApiModel):
    order_id: str = Field(pattern=ID_PATTERN)
    amount_cents: int = Field(ge=0, le=10**12)
    payment_token: str = Field(min_length=1, max_length=100)


class PaymentView(ApiModel):
    payment_id: str
    order_id: str
    status: str  # PENDING | AUTHORISED | DECLINED | CAPTURED | VOIDED | REFUNDED
    amount_cents: int
    reason: str | None = None


class ScheduleShipment(ApiModel):
    order_id: str = Field(pattern=ID_PATTERN)
    items: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)


class ShipmentView(ApiModel):
    shipment_id: str
    order_id: str
    status: str  # SCHEDULED | CANCELLED
    items: list[Item]
    created_at: str
    updated_at: str
    reason: str | None = None


class Shippability(ApiModel):
    shippable: bool


class ShippabilityView(ApiModel):
    product_id: str
    shippable: bool


class NotificationView(ApiModel):
    notification_id: str
    customer_id: str
    order_id: str
    kind: str  # order_confirmed | order_completed | order_cancelled | apology
    reason: str | None
    message: str
    created_at: str


class Notifications(ApiModel):
    notifications: list[NotificationView]
