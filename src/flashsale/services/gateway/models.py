"""Request and response bodies of the gateway's own API (camelCase on the wire). What it forwards
to the services behind it uses their contracts (contracts/api.py)."""

from __future__ import annotations

from pydantic import Field, model_validator

from flashsale.contracts.api import MAX_EMAIL, MAX_ITEMS, MAX_NAME, MAX_PASSWORD, Address, ApiModel, Fulfilment, Item


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
