"""Request and response bodies of the public HTTP APIs (docs/contract.md). camelCase on the wire."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

MAX_QUANTITY = 1000
MAX_RECEIVE = 10**9
MAX_ITEMS = 50
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
MAX_PURCHASE_LIMIT = 1_000_000

# "all": every item in full or nothing (the default); "partial": as much of each item as can be
# had now, refused only when nothing at all can be.
Fulfilment = Literal["all", "partial"]


def not_null(*fields: str) -> JsonDict:
    """For a model's JSON Schema: these fields may be left out but not sent as null (a model rule)."""
    return {"not": {"anyOf": [{"required": [f], "properties": {f: {"type": "null"}}} for f in fields]}}


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
    delta: int = Field(ge=-MAX_RECEIVE, le=MAX_RECEIVE, json_schema_extra={"not": {"const": 0}})
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

    # The two shapes, as the document says them (a null is as good as leaving a field out).
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["productId", "quantity"],
         "properties": {"productId": {"type": "string"}, "quantity": {"type": "integer"}, "items": {"type": "null"}}},
        {"required": ["items"],
         "properties": {"items": {"type": "array"}, "productId": {"type": "null"}, "quantity": {"type": "null"}}},
    ]})

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


class OrderItem(Item):
    """An order line as placed: the product's name and unit price then (a snapshot; the name is
    null when no catalog priced the order)."""

    name: str | None = None
    unit_price_cents: int | None = None


class OrderView(ApiModel):
    order_id: str
    customer_id: str
    status: str
    status_reason: str | None
    items: list[OrderItem]
    reservation_id: str | None
    expires_at: str | None
    created_at: str
    updated_at: str
    paid_at: str | None = None
    total_cents: int | None = None  # what the order costs: its lines at their snapshot prices


class OrderDetailView(OrderView):
    """`GET /orders/{orderId}`: the order with the customer's contact email as the order service's
    copy knows it (null until the copy has heard of the customer)."""

    contact_email: str | None = None


class ContactView(ApiModel):
    """The order service's copy of a customer's contact (admin; for consistency checks)."""

    customer_id: str
    name: str
    email: str
    version: int


class ReconcileRound(ApiModel):
    """A reconciliation round: profiles compared with their copy, and copies repaired."""

    processed: int
    fixed: int


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


# -- catalog -------------------------------------------------------------------------------------

MAX_PRICE_CENTS = 10**9
MAX_BATCH = 100


def _http_url(value: str | None) -> str | None:
    """An absolute http(s) URL with a host, no whitespace, at most 2048 characters."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if len(value) > 2048 or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() for c in value):
        raise ValueError("imageUrl must be an absolute http(s) URL")
    return value


def _instant(value: str | None) -> str | None:
    """An ISO 8601 time with a UTC offset (`Z` or `+hh:mm`); a time without one is ambiguous."""
    if value is None:
        return None
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 time, e.g. 2026-11-27T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-11-27T09:00:00Z")
    return value


class ProductFields(ApiModel):
    """The full description of a product (`PUT /products/{productId}`)."""

    name: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=0, le=MAX_PRICE_CENTS)
    description: str = Field(default="", max_length=5000)
    image_url: str | None = None
    sale_starts_at: str | None = None
    sale_ends_at: str | None = None

    @model_validator(mode="after")
    def _formats(self) -> ProductFields:
        _http_url(self.image_url)
        _instant(self.sale_starts_at)
        _instant(self.sale_ends_at)
        return self


class ProductChanges(ApiModel):
    """Some fields of a product (`PATCH /products/{productId}`); null clears an optional field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, **not_null("name", "priceCents", "description")})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    price_cents: int | None = Field(default=None, ge=0, le=MAX_PRICE_CENTS)
    description: str | None = Field(default=None, max_length=5000)
    image_url: str | None = None
    sale_starts_at: str | None = None
    sale_ends_at: str | None = None

    @model_validator(mode="after")
    def _meaningful(self) -> ProductChanges:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for required in ("name", "price_cents", "description"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{to_camel(required)} cannot be null")
        _http_url(self.image_url)
        _instant(self.sale_starts_at)
        _instant(self.sale_ends_at)
        return self


class AvailabilityView(ApiModel):
    status: str  # in_stock | low | sold_out | unknown
    available: int | None
    as_of: str | None


class ProductView(ApiModel):
    product_id: str
    name: str
    price_cents: int
    description: str
    image_url: str | None
    sale_starts_at: str | None
    sale_ends_at: str | None
    version: int
    created_at: str
    updated_at: str
    availability: AvailabilityView


class ProductPage(ApiModel):
    """`next` is the `after` of the following page, or null on the last one."""

    products: list[ProductView]
    next: str | None


class ProductBatch(ApiModel):
    product_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH, json_schema_extra={
        "items": {"type": "string", "pattern": ID_PATTERN}, "uniqueItems": True})

    @model_validator(mode="after")
    def _valid_unique(self) -> ProductBatch:
        import re

        bad = [p for p in self.product_ids if not re.fullmatch(ID_PATTERN, p)]
        if bad:
            raise ValueError(f"invalid productIds: {', '.join(bad[:5])}")
        if len(set(self.product_ids)) != len(self.product_ids):
            raise ValueError("each productId may appear once")
        return self


class ProductBatchView(ApiModel):
    products: list[ProductView]
    missing: list[str]


# -- customers ------------------------------------------------------------------------------------

MAX_NAME = 200
MAX_EMAIL = 254
COUNTRY_PATTERN = r"^[A-Z]{2}$"  # ISO 3166-1 alpha-2; the service also checks the code is assigned


class Address(ApiModel):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=COUNTRY_PATTERN)


class CreateCustomer(ApiModel):
    customer_id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    email: str = Field(min_length=3, max_length=MAX_EMAIL)
    address: Address


class UpdateCustomer(ApiModel):
    """A partial update: absent fields stay as they are; `address` is replaced as a whole."""

    model_config = ConfigDict(json_schema_extra=not_null("name", "email", "address"))

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    email: str | None = Field(default=None, min_length=3, max_length=MAX_EMAIL)
    address: Address | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> UpdateCustomer:
        # null would read as "clear it", and none of these may be cleared.
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may be left out but not null")
        return self


class CustomerView(ApiModel):
    customer_id: str
    name: str
    email: str
    address: Address
    version: int
    created_at: str
    updated_at: str


class CustomerPage(ApiModel):
    """Admin listing for reconciliation: `next` is the `after` of the following page, or null."""

    customers: list[CustomerView]
    next: str | None


# -- credentials (customers service; the gateway signs customers up and in through it) ------------

MAX_PASSWORD = 128


class Registration(CreateCustomer):
    """A new customer with a password: profile and credential are written in one transaction."""

    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class SetPassword(ApiModel):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class SignIn(ApiModel):
    email: str = Field(min_length=3, max_length=MAX_EMAIL)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class SignedIn(ApiModel):
    """Whose credentials those were."""

    customer_id: str
