"""The catalog's settings (FLASHSALE_* environment variables), beyond every service's own."""

from __future__ import annotations

from pydantic import Field

from flashsale.kit.settings import ServiceSettings
from flashsale.services.catalog.domain import DEFAULT_LOW_THRESHOLD


class CatalogSettings(ServiceSettings):
    # FLASHSALE_LOW_STOCK_THRESHOLD: at or below this many available units a product shows "low".
    low_stock_threshold: int = Field(default=DEFAULT_LOW_THRESHOLD, ge=0)
    # FLASHSALE_RECONCILE_INTERVAL_S: seconds between the scheduled reconciliation rounds of the
    # availability read model against the inventory (FLASHSALE_INVENTORY_URLS); also on demand.
    reconcile_interval_s: float = Field(default=300.0, gt=0)
    # FLASHSALE_RECONCILE_PAGE_SIZE: products per page of the inventory's listing.
    reconcile_page_size: int = Field(default=200, ge=1, le=1000)
    # FLASHSALE_RECONCILE_SETTLE_S: how long a round waits for events in flight to be applied
    # before it leaves a page's differing levels to the next round (reconcile.py, step 2).
    reconcile_settle_s: float = Field(default=5.0, ge=0)
