"""Bounded, retried provider calls: every attempt has a deadline, failures back off with jitter.

Retrying is safe because every provider call carries the idempotency key of its payment and
operation: the provider acts on a key once, so a retry of a call that did reach it is answered
with the first answer and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from flashsale.services.payments import metrics
from flashsale.services.payments.domain import Operation
from flashsale.services.payments.provider import ProviderError, ProviderResult

ProviderCall = Callable[[], Awaitable[ProviderResult]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    # Bounds one attempt; attempts x timeout stays well below domain.STALE_PENDING_MS, so a live
    # authorisation is not taken over.
    timeout_s: float = 5.0
    backoff_s: float = 0.05
    max_backoff_s: float = 0.5


async def call_with_retries(
    policy: RetryPolicy, operation: Operation, call: ProviderCall
) -> tuple[ProviderResult, int]:
    """The provider's answer and how many attempts it took; ProviderError once attempts run out."""
    attempts = 0
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential_jitter(multiplier=policy.backoff_s, jitter=policy.backoff_s,
                                     max=policy.max_backoff_s),
        retry=retry_if_exception_type(ProviderError),
        reraise=True,
    ):
        with attempt:
            attempts += 1
            return await _bounded(policy.timeout_s, operation, call), attempts
    raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying re-raises


async def _bounded(timeout_s: float, operation: Operation, call: ProviderCall) -> ProviderResult:
    """A call that hangs is a provider error: its outcome is unknown, so it may be retried."""
    try:
        async with asyncio.timeout(timeout_s):
            result = await call()
    except TimeoutError as exc:
        metrics.provider_calls.labels(operation.value, "timeout").inc()
        raise ProviderError(f"no answer within {timeout_s} s") from exc
    except ProviderError:
        metrics.provider_calls.labels(operation.value, "error").inc()
        raise
    metrics.provider_calls.labels(operation.value, "ok").inc()
    return result
