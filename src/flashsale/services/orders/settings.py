"""The order service's settings (FLASHSALE_*): the kit's, the stand-in price, the saga's timings."""

from __future__ import annotations

from flashsale.kit.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    # There is no catalog yet: every unit costs this much until one exists.
    unit_price_cents: int = 49_999
    # A payment may take seconds (the provider's slow path takes 2 s, retries add more).
    payments_timeout_s: float = 10.0
    inventory_timeout_s: float = 3.0
    shipping_timeout_s: float = 3.0
    # Comma-separated base URLs of the shipping service; none: orders complete without shipping.
    shipping_urls: str = ""
    # The checkout saga (see saga.SagaSettings): how long a runner's lease lasts before another
    # instance may take the saga over, how often the worker looks for due sagas, and how failing
    # steps are retried before the saga is parked as NEEDS_ATTENTION.
    saga_lease_s: float = 30.0
    saga_poll_interval_s: float = 0.5
    saga_batch_size: int = 20
    saga_max_attempts: int = 8
    saga_retry_base_s: float = 0.5
    saga_retry_cap_s: float = 30.0
