"""The payments service's operations: charge an order once, refund it once.

A charge is three steps, and only the first and last touch the database:
1. claim: create the order's PENDING payment (or find the stored one and replay it);
2. ask the provider, outside any transaction (it may take seconds), retrying provider errors
   with exponential backoff and jitter under one idempotency key per payment, so a retry or a
   take-over after a crash is never a second charge at the provider;
3. record the outcome, its ledger entries and its event in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from flashsale.services.payments import domain
from flashsale.services.payments.errors import (
    NotRefundable,
    PaymentInProgress,
    ProviderUnavailable,
    UnknownPayment,
)
from flashsale.services.payments.provider import PaymentProvider, ProviderError, ProviderResult
from flashsale.services.payments.store import LedgerEntry, Payment, PaymentStore

_ProviderCall = Callable[[], Awaitable[ProviderResult]]

PROVIDER_ATTEMPTS = 3
# Bounds one provider call; well below domain.STALE_PENDING_MS, so a live charge is never taken over.
PROVIDER_TIMEOUT_S = 5.0


class Payments:
    def __init__(self, store: PaymentStore, provider: PaymentProvider) -> None:
        self.store = store
        self.provider = provider

    async def authorise(self, order_id: str, amount_cents: int, token: str) -> Payment:
        claim, payment = await self.store.claim(order_id, amount_cents, token)
        if claim is domain.Claim.REPLAY:
            return payment
        if claim is domain.Claim.IN_PROGRESS:
            raise PaymentInProgress(order_id)
        result, calls = await self._charge(payment)
        return await self.store.record_outcome(
            payment, domain.outcome_status(result.approved), result.reason, calls
        )

    async def refund(self, order_id: str) -> Payment:
        payment = await self.find(order_id)
        decision = domain.refund(payment.status)
        if decision is domain.Refund.ALREADY_REFUNDED:
            return payment
        if decision is not domain.Refund.REFUND:
            raise NotRefundable(order_id, payment.status)
        try:
            await _with_retries(lambda: self.provider.refund(
                payment.order_id, payment.amount_cents, f"refund:{payment.payment_id}"
            ))
        except ProviderError as exc:
            raise ProviderUnavailable(f"the refund of order {order_id} failed: {exc}") from exc
        return await self.store.record_refund(payment)

    async def find(self, order_id: str) -> Payment:
        payment = await self.store.find(order_id)
        if payment is None:
            raise UnknownPayment(order_id)
        return payment

    async def ledger(self, order_id: str) -> list[LedgerEntry]:
        await self.find(order_id)
        return await self.store.ledger(order_id)

    async def _charge(self, payment: Payment) -> tuple[ProviderResult, int]:
        """The provider's answer and how many calls it took; repeated provider errors decline."""
        calls = 0

        async def once() -> ProviderResult:
            nonlocal calls
            calls += 1
            return await self.provider.charge(
                payment.order_id, payment.amount_cents, payment.token, f"charge:{payment.payment_id}"
            )

        try:
            return await _with_retries(once), calls
        except ProviderError:
            return ProviderResult(approved=False, reason=domain.PROVIDER_ERROR), calls


async def _with_retries(call: _ProviderCall) -> ProviderResult:
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(PROVIDER_ATTEMPTS),
        wait=wait_exponential_jitter(multiplier=0.05, max=0.5),
        retry=retry_if_exception_type(ProviderError),
        reraise=True,
    ):
        with attempt:
            return await _bounded(call)
    raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying re-raises


async def _bounded(call: _ProviderCall) -> ProviderResult:
    """A provider call that hangs is a provider error: its outcome is unknown, so retry it."""
    try:
        async with asyncio.timeout(PROVIDER_TIMEOUT_S):
            return await call()
    except TimeoutError as exc:
        raise ProviderError(f"no answer within {PROVIDER_TIMEOUT_S} s") from exc
