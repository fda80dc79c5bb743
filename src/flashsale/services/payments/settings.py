"""The payments service's settings (FLASHSALE_* environment variables), beyond every service's own."""

from __future__ import annotations

from pydantic import Field

from flashsale.kit.settings import ServiceSettings
from flashsale.services.payments import domain


class PaymentsSettings(ServiceSettings):
    # FLASHSALE_PROVIDER_ATTEMPTS / _PROVIDER_TIMEOUT_S: how often and how long the provider is asked.
    provider_attempts: int = Field(default=3, ge=1, le=10)
    provider_timeout_s: float = Field(default=5.0, gt=0)
    # FLASHSALE_STALE_PENDING_MS: when a PENDING authorisation counts as abandoned by a dead
    # process. Keep it above provider_attempts x provider_timeout_s; tests that kill a process
    # lower it so the take-over comes within seconds.
    stale_pending_ms: int = Field(default=domain.STALE_PENDING_MS, ge=1)
