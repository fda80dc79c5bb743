"""The gateway's settings (FLASHSALE_* environment variables), beyond every service's own."""

from __future__ import annotations

from pydantic import Field, field_validator

from flashsale.kit.settings import ServiceSettings

MIN_SECRET = 32


class GatewaySettings(ServiceSettings):
    # FLASHSALE_GATEWAY_SECRET: the HS256 key tokens are signed with (at least 32 characters).
    # `flashsale up` derives one from the admin token; a deployment sets its own.
    gateway_secret: str = ""
    # FLASHSALE_TOKEN_TTL_S: how long a signed-in token is valid.
    token_ttl_s: int = Field(default=900, ge=1, le=86_400)
    # FLASHSALE_REFRESH_TTL_S: how long a customer's refresh token buys new access tokens
    # (POST /api/auth/refresh): a buyer who signed in before a drop stays signed in through it.
    refresh_ttl_s: int = Field(default=7 * 86_400, ge=1, le=90 * 86_400)
    # FLASHSALE_READ_YOUR_WRITES_S: after a customer's own write, how long their reads of what it
    # touched go to the owning service instead of a read model that may not have caught up.
    read_your_writes_s: float = Field(default=10.0, ge=0)
    # FLASHSALE_PARTS_KEPT_S: how long a composed read's parts (a product's view, a customer's
    # profile, a stock level read for read-your-writes) answer the next reads (copies.py); 0: every
    # read asks their services.
    parts_kept_s: float = Field(default=1.0, ge=0)
    # FLASHSALE_PROFILES_KEPT_S: how long a customer's profile answers the next composed reads while
    # the gateway hears the customers' changes on the broker (profiles.py); otherwise (or when it is
    # the shorter) FLASHSALE_PARTS_KEPT_S.
    profiles_kept_s: float = Field(default=60.0, ge=0)
    # FLASHSALE_MAX_BODY_BYTES: larger request bodies are refused with 413.
    max_body_bytes: int = Field(default=16_384, ge=1)
    # FLASHSALE_RATE_LIMIT: per customer (per client address when anonymous), `limits` notation.
    rate_limit: str = "20/second"
    # FLASHSALE_PART_TIMEOUT_S: the time each optional part of a composed read may take.
    part_timeout_s: float = Field(default=1.0, gt=0)
    # FLASHSALE_CALL_TIMEOUT_S: the time a forwarded call may take (a slow payment takes seconds).
    call_timeout_s: float = Field(default=15.0, gt=0)
    # Per dependency: this many failures in a row open its circuit for breaker_ttl_s.
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_ttl_s: float = Field(default=5.0, gt=0)
    # The catalog's rule for "low" stock, applied to availability read from the inventory.
    low_stock_threshold: int = Field(default=5, ge=0)
    # FLASHSALE_SOLD_OUT_TTL_S: how long a product the inventory refused for lack of stock is
    # refused at the gateway without asking (sold_out.py); facts giving units back end it sooner.
    # 0 switches the copy off: every attempt is forwarded.
    sold_out_ttl_s: float = Field(default=2.0, ge=0)
    # FLASHSALE_MAX_BUYS_IN_FLIGHT: buy attempts forwarded to the order service at once; past it
    # an attempt is shed with 503 overloaded and Retry-After (counted), instead of queueing into a
    # timeout. What the house can take: more than the order instances' connections ever hold.
    max_buys_in_flight: int = Field(default=512, ge=1)
    catalog_urls: str = ""
    customers_urls: str = ""
    orders_urls: str = ""
    notifications_urls: str = ""

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        parse(value)  # ValueError on anything that is not e.g. "20/second"
        return value

    @field_validator("gateway_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        if value and len(value) < MIN_SECRET:
            raise ValueError(f"the gateway secret needs at least {MIN_SECRET} characters")
        return value
