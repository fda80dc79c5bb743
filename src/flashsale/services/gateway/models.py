"""Request and response bodies of the gateway's own API (camelCase on the wire). What it forwards
to the services behind it uses their contracts (contracts/api.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flashsale.contracts.api import (
    MAX_EMAIL,
    MAX_ITEMS,
    MAX_NAME,
    MAX_PASSWORD,
    Address,
    ApiModel,
    AvailabilityView,
    CustomerView,
    Fulfilment,
    Item,
    OrderDetailView,
    OrderView,
    ProductView,
)


class SignUp(ApiModel):
    """A new customer account: the profile and the password to sign in with."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    email: str = Field(min_length=3, max_length=MAX_EMAIL)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    address: Address


class AdminSignIn(ApiModel):
    admin_token: str = Field(min_length=1, max_length=200)


class AccessToken(ApiModel):
    """Send it back as `Authorization: Bearer <accessToken>`; it is valid for `expiresIn` seconds.
    A customer's sign-in also gives a `refreshToken`: `POST /api/auth/refresh` with it gives a new
    access token (and refresh token) until `refreshExpiresIn` seconds have passed."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


class Refresh(ApiModel):
    refresh_token: str = Field(min_length=1, max_length=2000)


class PlaceOrder(ApiModel):
    """An order for the signed-in customer: whose it is comes from the token, never the body."""

    items: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)
    fulfilment: Fulfilment = "all"

    @model_validator(mode="after")
    def _unique(self) -> PlaceOrder:
        if len({item.product_id for item in self.items}) != len(self.items):
            raise ValueError("each productId may appear once")
        return self


# What the gateway answers that is not what a service behind it answered as it came: availability
# marked with where it was read, and the composed order (compose.py). Only the OpenAPI document
# uses these; the answers are the services' JSON, passed on.
Part = Literal["ok", "missing", "unavailable"]


class Availability(AvailabilityView):
    """From the catalog's read model, or from the inventory itself right after the caller's own
    order or cancel touched the product (`source`)."""

    source: Literal["catalog", "inventory"]


class Product(ProductView):
    availability: Availability


class ProductPage(ApiModel):
    """`next` is the `after` of the following page, or null on the last one."""

    products: list[Product]
    next: str | None


class Orders(ApiModel):
    """The customer's orders, newest first."""

    orders: list[OrderView]


class Parts(ApiModel):
    order: Literal["ok"]
    customer: Part
    products: Part


class ComposedOrder(ApiModel):
    """An order with its customer and its products (by productId); a part that could not be had
    is null, and `parts` says why (`missing`: its service has no such thing; `unavailable`)."""

    order: OrderDetailView
    customer: CustomerView | None
    products: dict[str, Product] | None
    parts: Parts
