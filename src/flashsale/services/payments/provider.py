"""The payment provider behind an interface, and the simulated one the house runs with.

A real provider is a remote call that can fail or hang; `ProviderError` is the failure a caller
may retry, because every call carries an idempotency key and the provider charges a key once.

Tokens of the simulated provider (CONTRACT §3):
- `tok_ok` approves; `tok_slow` approves after 2 s;
- `tok_declined` declines ("card_declined"); any unknown token declines ("unknown_token");
- `tok_error` raises `ProviderError` on every call (the caller retries, then gives up).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

SLOW_TOKEN_DELAY_S = 2.0


class ProviderError(Exception):
    """The provider could not be asked or did not answer: the outcome is unknown, retry."""


@dataclass(frozen=True)
class ProviderResult:
    approved: bool
    reason: str | None = None


class PaymentProvider(Protocol):
    async def charge(
        self, order_id: str, amount_cents: int, token: str, idempotency_key: str
    ) -> ProviderResult: ...

    async def refund(self, order_id: str, amount_cents: int, idempotency_key: str) -> ProviderResult: ...


class SimulatedProvider:
    """Answers by token. Remembers every idempotency key, so a repeated call is not a new charge."""

    def __init__(self) -> None:
        self._answered: dict[str, ProviderResult] = {}

    async def charge(
        self, order_id: str, amount_cents: int, token: str, idempotency_key: str
    ) -> ProviderResult:
        if idempotency_key in self._answered:
            return self._answered[idempotency_key]
        return self._remember(idempotency_key, await self._decide(token))

    async def refund(self, order_id: str, amount_cents: int, idempotency_key: str) -> ProviderResult:
        if idempotency_key in self._answered:
            return self._answered[idempotency_key]
        return self._remember(idempotency_key, ProviderResult(approved=True))

    async def _decide(self, token: str) -> ProviderResult:
        if token == "tok_ok":
            return ProviderResult(approved=True)
        if token == "tok_slow":
            await asyncio.sleep(SLOW_TOKEN_DELAY_S)
            return ProviderResult(approved=True)
        if token == "tok_declined":
            return ProviderResult(approved=False, reason="card_declined")
        if token == "tok_error":
            raise ProviderError("simulated provider failure")
        return ProviderResult(approved=False, reason="unknown_token")

    def _remember(self, idempotency_key: str, result: ProviderResult) -> ProviderResult:
        self._answered[idempotency_key] = result
        return result
