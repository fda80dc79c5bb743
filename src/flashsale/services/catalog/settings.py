"""The catalog's settings (FLASHSALE_* environment variables), beyond every service's own."""

from __future__ import annotations

from pydantic import Field

from flashsale.kit.settings import ServiceSettings
from flashsale.services.catalog.domain import DEFAULT_LOW_THRESHOLD


class CatalogSettings(ServiceSettings):
    # FLASHSALE_LOW_STOCK_THRESHOLD: at or below this many available units a product shows "low".
    low_stock_threshold: int = Field(default=DEFAULT_LOW_THRESHOLD, ge=0)
