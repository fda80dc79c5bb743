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
    # FLASHSALE_STOCK_GAUGES_INTERVAL_S: how often the per-product stock gauges are read afresh.
    stock_gauges_interval_s: float = Field(default=5.0, gt=0)
    # FLASHSALE_HOLD_STRATEGY: how a hold takes stock. "coalesced" (the default): concurrent holds
    # of one product granted a batch per transaction (store/batched.py); measured 5-7x the holds/s
    # of "conditional" at 16-256 clients on SQLite and PostgreSQL, the same latency alone
    # (bench/RESULTS.md). "conditional": one conditional UPDATE per line, a transaction per hold
    # (store/holds.py). (The bench's lock-then-write baseline is bench/naive_inventory.py.)
    hold_strategy: Literal["conditional", "coalesced"] = "coalesced"
    # FLASHSALE_HOLD_BATCH_MAX: at most this many holds in one coalesced batch. One batch per
    # product is in flight at a time, so a bound below the number of waiting buyers makes them
    # queue for several commits: measured at 256 clients, 256 holds 3-7x more per second than 64.
    hold_batch_max: int = Field(default=256, ge=1, le=10_000)
    # FLASHSALE_HOLD_BATCH_LINGER_MS: how long a hold arriving at an idle product waits for others
    # to share its batch (0: none; under load the next batch gathers while one commits anyway).
    hold_batch_linger_ms: float = Field(default=0.0, ge=0, le=50)
