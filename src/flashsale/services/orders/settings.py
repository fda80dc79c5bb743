"""The order service's settings (FLASHSALE_*): the kit's, where prices and contacts come from, the
saga's timings, the contact reconciliation's schedule."""

from __future__ import annotations

from flashsale.kit.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    # Without a catalog configured every unit costs this much (and order lines carry no name).
    unit_price_cents: int = 49_999
    # Comma-separated base URLs of the catalog service; set, each order line snapshots its product's
    # name and price from the catalog, and only listed products inside their sale window sell.
    catalog_urls: str = ""
    catalog_timeout_s: float = 2.0
    # Comma-separated base URLs of the customers service, which reconciliation of the contact copy
    # walks; none: no reconciliation (the copy still follows CustomerUpdated events).
    customers_urls: str = ""
    customers_timeout_s: float = 5.0
    # How often one instance reconciles the contact copy with the customers service (seconds).
    reconcile_interval_s: float = 300.0
    reconcile_page_size: int = 500
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
    # ...and only once its step has been failing this long: a dependency restarting (a minute or
    # two) must not park sagas, however often buyers' retried requests attempt them meanwhile.
    saga_park_after_s: float = 300.0
    saga_retry_base_s: float = 0.5
    saga_retry_cap_s: float = 30.0
