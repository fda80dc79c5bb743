"""The monitor's settings (FLASHSALE_* environment variables), beyond every service's own."""

from __future__ import annotations

from pydantic import Field

from flashsale.kit.settings import ServiceSettings


class MonitorSettings(ServiceSettings):
    # Where the compared services listen (FLASHSALE_INVENTORY_URLS comes with every service);
    # a model whose services are not given is skipped, and its result says so.
    catalog_urls: str = ""
    orders_urls: str = ""
    customers_urls: str = ""
    # The operations dashboard scrapes every instance of these too (with the services above, and
    # inventory and payments from every service's settings); a service not given is not shown.
    shipping_urls: str = ""
    notifications_urls: str = ""
    gateway_urls: str = ""
    reporting_urls: str = ""
    # FLASHSALE_SCRAPE_INTERVAL_S: seconds between two dashboard scrapes of every /metrics.
    scrape_interval_s: float = Field(default=1.0, ge=0.1, le=60)
    # FLASHSALE_DASHBOARD_WINDOW_S: how far back the dashboard's charts remember.
    dashboard_window_s: float = Field(default=600.0, ge=10, le=3600)
    # FLASHSALE_CHECK_INTERVAL_S: seconds between two consistency rounds.
    check_interval_s: float = Field(default=30.0, gt=0)
    # FLASHSALE_SAMPLE_SIZE: entities sampled per model and round.
    sample_size: int = Field(default=50, ge=1, le=10_000)
    # FLASHSALE_GRACE_S: how long a disagreeing copy gets to catch up before it counts as drift.
    grace_s: float = Field(default=2.0, ge=0)
