"""The inventory's settings (FLASHSALE_* environment variables), beyond every service's own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flashsale.kit.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    # FLASHSALE_HOLD_TTL: seconds a hold lives when the request names no ttlSeconds.
    hold_ttl: int = Field(default=600, ge=1)
    sweep_interval_s: float = Field(default=0.5, gt=0)
    sweep_batch_size: int = Field(default=200, ge=1, le=10_000)
    # FLASHSALE_HOLD_STRATEGY: how an all-or-nothing hold takes stock (store/holds.py). "naive" is
    # the lock-then-write baseline the bench measures the default against; not for production.
    hold_strategy: Literal["conditional", "naive"] = "conditional"
