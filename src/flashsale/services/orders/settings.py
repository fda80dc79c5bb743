"""The order service's settings: the kit's, plus the stand-in price (FLASHSALE_UNIT_PRICE_CENTS)."""

from __future__ import annotations

from flashsale.kit.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    # There is no catalog yet: every unit costs this much until one exists.
    unit_price_cents: int = 49_999
    # A payment may take seconds (the provider's slow path takes 2 s, retries add more).
    payments_timeout_s: float = 10.0
    inventory_timeout_s: float = 3.0
